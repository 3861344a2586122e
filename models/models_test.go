package models

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/synth"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

// auc is the area under the ROC curve (Mann–Whitney, ties averaged).
func auc(scores []float64, labels []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSum, pos float64
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && scores[idx[j+1]] == scores[idx[i]] {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			if labels[idx[k]] {
				rankSum += r
				pos++
			}
		}
		i = j + 1
	}
	neg := float64(len(scores)) - pos
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// TestBundledModelsAreUseful: on a stream the models never saw (another
// seed, other customers), the fraud model — scored as `streamscore score`
// scores a log of both kinds, its aggregates from the entity state — and
// the account-takeover model separate the generator's positives.
func TestBundledModelsAreUseful(t *testing.T) {
	t.Run("fraud", func(t *testing.T) {
		s, err := Fraud(scoring.DefaultPolicy)
		if err != nil {
			t.Fatal(err)
		}
		if info := s.Info(); info.Name != "fraud" || info.Output != scoring.Binary || len(info.Features) != 21 || len(s.Plan().Aggregates()) != 9 {
			t.Fatalf("info = %+v, %d aggregates", info, len(s.Plan().Aggregates()))
		}
		dir := t.TempDir()
		log, out := filepath.Join(dir, "log.csv"), filepath.Join(dir, "scored.csv")
		f, err := os.Create(log)
		if err != nil {
			t.Fatal(err)
		}
		txs := 0
		_, err = synth.WriteLog(f, synth.New(4242, 5000, schemas.DefaultFieldNames), time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), 0.5,
			func(k schemas.EventType) bool {
				if k == schemas.Transaction {
					txs++
				}
				return txs == 40000
			})
		if e := f.Close(); err == nil {
			err = e
		}
		if err != nil {
			t.Fatal(err)
		}
		sum, err := batchscore.Run(context.Background(), batchscore.Options{Scorer: s, Input: log, Output: out})
		if err != nil || sum.Rejected != 0 {
			t.Fatalf("summary %+v, err %v", sum, err)
		}
		r, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		recs, err := csv.NewReader(r).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		var scores []float64
		var labels []bool
		for _, rec := range recs[1:] {
			if rec[col["event_type"]] != "transaction" {
				continue
			}
			v, err := strconv.ParseFloat(rec[col["score"]], 64)
			if err != nil {
				t.Fatal(err)
			}
			scores = append(scores, v)
			labels = append(labels, rec[col[synth.TruthColumn]] == "1")
		}
		a := auc(scores, labels)
		t.Logf("AUC on %d fresh synthetic transactions: %.4f", len(scores), a)
		if len(scores) != 40000 || a < 0.93 {
			t.Errorf("AUC %.4f on %d transactions: the bundled model no longer separates the generator's fraud", a, len(scores))
		}
	})
	t.Run("takeover", func(t *testing.T) {
		s, err := Takeover(scoring.DefaultPolicy)
		if err != nil {
			t.Fatal(err)
		}
		if info := s.Info(); info.Name != "takeover" || info.Output != scoring.Binary || len(info.Features) != 10 {
			t.Fatalf("info = %+v", info)
		}
		g := synth.New(4242, 5000, schemas.DefaultFieldNames)
		const n = 40000
		evs := make([]*schemas.Event, n)
		labels := make([]bool, n)
		at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
		for i := range evs {
			evs[i] = &schemas.Event{}
			labels[i] = g.Activity(evs[i], at.Add(time.Duration(i)*time.Second))
		}
		var b scoring.Batch
		s.Score(evs, &b)
		scores := make([]float64, n)
		for i, r := range b.Results {
			if r.Err != nil {
				t.Fatalf("event %d: %v", i, r.Err)
			}
			scores[i] = r.Score
		}
		a := auc(scores, labels)
		t.Logf("AUC on %d fresh synthetic activity events: %.4f", n, a)
		if a < 0.9 {
			t.Errorf("AUC %.4f: the bundled model no longer separates the generator's positives", a)
		}
	})
}

// TestBundledFraudIsXGBoost: the bundled fraud model scores its hold-out
// rows (testdata/fraud_golden.csv, written by train.py --golden from
// XGBoost's own predict, missing values included) exactly as XGBoost does.
func TestBundledFraudIsXGBoost(t *testing.T) {
	m, err := xgboost.Parse(fraudModel, "fraud")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "fraud_golden.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	nf := len(m.Info().Features)
	if !slices.Equal(recs[0][:nf], m.Info().Features) {
		t.Fatalf("golden columns %v, model features %v", recs[0][:nf], m.Info().Features)
	}
	x := make([]float32, 0, nf*(len(recs)-1))
	missing := 0
	for _, rec := range recs[1:] {
		for _, c := range rec[:nf] {
			if c == "" {
				x = append(x, float32(math.NaN()))
				missing++
				continue
			}
			v, err := strconv.ParseFloat(c, 64)
			if err != nil {
				t.Fatal(err)
			}
			x = append(x, float32(v))
		}
	}
	out := make([]float32, len(recs)-1)
	if err := m.Predict(x, out); err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs[1:] {
		want, _ := strconv.ParseFloat(rec[nf+1], 64)
		if out[i] != float32(want) {
			t.Fatalf("row %d: %v, XGBoost %v", i, out[i], want)
		}
	}
	if missing == 0 {
		t.Fatal("no missing value in the golden rows")
	}
}

func TestAUC(t *testing.T) {
	if got := auc([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}); got != 0.75 {
		t.Errorf("auc = %v, want 0.75", got)
	}
	if got := auc([]float64{0.5, 0.5}, []bool{false, true}); got != 0.5 {
		t.Errorf("tied auc = %v", got)
	}
}
