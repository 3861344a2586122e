// Package models embeds the bundled models so that the binary (and the
// demo) needs no files at run time. The training scripts beside them say
// how each was made; see the README to retrain.
package models

import (
	_ "embed"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

var (
	//go:embed fraud.json
	fraudModel []byte
	//go:embed fraud.features.yaml
	fraudFeatures []byte
)

// FraudFeatures is the features file of the fraud model.
func FraudFeatures() ([]scoring.FeatureSpec, error) { return scoring.ParseFeatures(fraudFeatures) }

// Fraud loads the bundled XGBoost fraud model (transactions) with its
// features and the given policy.
func Fraud(policy scoring.Policy) (*scoring.Scorer, error) {
	m, err := xgboost.Parse(fraudModel, "fraud")
	if err != nil {
		return nil, err
	}
	specs, err := FraudFeatures()
	if err != nil {
		return nil, err
	}
	return scoring.NewScorer(m, specs, policy)
}
