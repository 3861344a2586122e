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
	//go:embed takeover.json
	takeoverModel []byte
	//go:embed takeover.features.yaml
	takeoverFeatures []byte
)

// FraudFeatures is the features file of the fraud model.
func FraudFeatures() ([]scoring.FeatureSpec, error) { return scoring.ParseFeatures(fraudFeatures) }

// TakeoverFeatures is the features file of the account-takeover model.
func TakeoverFeatures() ([]scoring.FeatureSpec, error) {
	return scoring.ParseFeatures(takeoverFeatures)
}

// Fraud loads the bundled fraud model (transactions) with its features.
func Fraud(policy scoring.Policy) (*scoring.Scorer, error) {
	return bundled(fraudModel, "fraud", FraudFeatures, policy)
}

// Takeover loads the bundled account-takeover model (activity events).
func Takeover(policy scoring.Policy) (*scoring.Scorer, error) {
	return bundled(takeoverModel, "takeover", TakeoverFeatures, policy)
}

func bundled(data []byte, name string, features func() ([]scoring.FeatureSpec, error), policy scoring.Policy) (*scoring.Scorer, error) {
	m, err := xgboost.Parse(data, name)
	if err != nil {
		return nil, err
	}
	specs, err := features()
	if err != nil {
		return nil, err
	}
	return scoring.NewScorer(m, specs, policy)
}
