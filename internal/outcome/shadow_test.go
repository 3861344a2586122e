package outcome

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

const fraudModel = "../../scoring/xgboost/testdata/xgb_fraud.json"

var fraudInputs = []string{"amount", "hour", "merchant_risk", "tx_count_1h", "distance_km", "account_age_days", "device_score", "velocity_ratio"}

// shadowCore is a core whose one route scores topic t with the fraud
// model on its named fields and has a challenger: the same model reading
// the features of challengerYAML.
func shadowCore(t *testing.T, challengerYAML string) (*Core, *modelset.Route) {
	t.Helper()
	dir := t.TempDir()
	feats := filepath.Join(dir, "challenger.yaml")
	if err := os.WriteFile(feats, []byte(challengerYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(fraudModel)
	set, err := modelset.Open([]modelset.RouteSpec{{Topics: []string{"t"}, Path: abs,
		Shadow: &modelset.ShadowSpec{Path: abs, Features: feats, Name: "challenger", OutputTopic: "s"}}}, scoring.DefaultPolicy, []string{"t"})
	if err != nil {
		t.Fatal(err)
	}
	r := set.For("t")
	if r.Shadow() == nil {
		t.Fatalf("challenger did not load: %v", r.ShadowErr())
	}
	dec, _ := schemas.NewDecoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	c, err := New(set, []Input{{Topic: "t", Kind: schemas.Transaction, Decoder: dec}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

// event i of entity c at time ms: every input field set to a value of i.
func shadowRecord(i int, entity string, ms int64) *Record {
	v := fmt.Sprintf(`{"event_id":"e%d","customer_id":%q,"event_time":%d`, i, entity, ms)
	for k, f := range fraudInputs {
		v += fmt.Sprintf(`,%q:%g`, f, float64(i*10+k)+0.25)
	}
	return &Record{Topic: "t", Value: []byte(v + "}"), Offset: int64(i)}
}

func predict(t *testing.T, m *xgboost.Model, row []float32) float64 {
	t.Helper()
	out := make([]float32, 1)
	if err := m.Predict(row, out); err != nil {
		t.Fatal(err)
	}
	return float64(out[0])
}

// TestScoreShadow: the challenger scores the records the champion
// predicted with its own feature plan (here the inputs reversed, and one
// an entity aggregate the champion does not read), its results equal the
// model's own on its rows, the champion's outcomes are untouched, and a
// record the champion dead-letters gets no challenger outcome.
func TestScoreShadow(t *testing.T) {
	m, err := xgboost.Load(fraudModel, "")
	if err != nil {
		t.Fatal(err)
	}
	challenger := "features:\n"
	for k := range fraudInputs {
		src := fraudInputs[len(fraudInputs)-1-k]
		if fraudInputs[k] == "tx_count_1h" {
			challenger += "  - {name: tx_count_1h, aggregate: {fn: count, of: transaction, over: 1h}}\n"
			continue
		}
		challenger += fmt.Sprintf("  - {name: %s, from: %s}\n", fraudInputs[k], src)
	}
	c, route := shadowCore(t, challenger)
	b := c.NewBatch()
	b.SetShadows(true)
	b.SetState(entity.NewState(c.Spec(), entity.Options{}))
	recs := []*Record{shadowRecord(1, "a", 1000), shadowRecord(2, "a", 2000), shadowRecord(3, "b", 3000),
		{Topic: "t", Value: []byte(`{"event_id":"bad","customer_id":"a","event_time":4000,"amount":"twelve"}`), Offset: 9},
		shadowRecord(4, "a", 5000)}
	for _, r := range recs {
		if err := c.Decode(r); err != nil {
			t.Fatal(err)
		}
	}
	b.Score(recs)
	sh, n := b.ScoreShadow(recs, route)
	if sh != route.Shadow() || n != 4 {
		t.Fatalf("ScoreShadow: %v, %d records", sh, n)
	}
	// transactions of the entity before it; the one with a text amount
	// enters the state too (its features fail only when it is scored)
	priorTx := map[int]float32{1: 0, 2: 1, 3: 0, 4: 3}
	for _, r := range recs {
		if r.Event.ID == "bad" {
			if !r.Dead() || r.Shadow.Scorer != nil {
				t.Errorf("dead-lettered record: stage %q, challenger outcome %+v", r.Stage, r.Shadow)
			}
			continue
		}
		var i int
		fmt.Sscanf(r.Event.ID, "e%d", &i)
		champ, chall := make([]float32, len(fraudInputs)), make([]float32, len(fraudInputs))
		for k := range fraudInputs {
			champ[k] = float32(float64(i*10+k) + 0.25)
			chall[k] = float32(float64(i*10+len(fraudInputs)-1-k) + 0.25)
			if fraudInputs[k] == "tx_count_1h" {
				chall[k] = priorTx[i]
			}
		}
		if r.Dead() || r.Result.Score != predict(t, m, champ) || r.Scorer != route.Scorer() {
			t.Errorf("%s: champion %+v (stage %q), want score %v", r.Event.ID, r.Result, r.Stage, predict(t, m, champ))
		}
		if r.Shadow.Scorer != sh || r.Shadow.Err != nil || r.Shadow.Result.Score != predict(t, m, chall) {
			t.Errorf("%s: challenger %+v, want score %v", r.Event.ID, r.Shadow, predict(t, m, chall))
		}
		if r.Result.Score == r.Shadow.Result.Score {
			t.Errorf("%s: champion and challenger agree exactly (%v): the test cannot tell them apart", r.Event.ID, r.Result.Score)
		}
		if len(r.Event.Aggs) != 0 {
			t.Errorf("%s: the champion's event holds the challenger's aggregates %v", r.Event.ID, r.Event.Aggs)
		}
	}
	// without SetShadows the batch scores no challenger
	b2 := c.NewBatch()
	b2.Score(recs[:1])
	if sh, n := b2.ScoreShadow(recs[:1], route); sh != nil || n != 0 || recs[0].Shadow.Scorer != nil {
		t.Errorf("a batch without shadows scored the challenger")
	}
}

// TestBrokenShadow: a challenger that fails on every record (its input
// reads a text field as a number) fails only its own outcomes.
func TestBrokenShadow(t *testing.T) {
	m, err := xgboost.Load(fraudModel, "")
	if err != nil {
		t.Fatal(err)
	}
	challenger := "features:\n  - {name: amount, from: customer_id}\n"
	for _, f := range fraudInputs[1:] {
		challenger += "  - " + f + "\n"
	}
	c, route := shadowCore(t, challenger)
	b := c.NewBatch()
	b.SetShadows(true)
	recs := []*Record{shadowRecord(1, "a", 1000), shadowRecord(2, "b", 2000)}
	for _, r := range recs {
		c.Decode(r)
	}
	b.Score(recs)
	if _, n := b.ScoreShadow(recs, route); n != 2 {
		t.Fatalf("%d records given to the challenger", n)
	}
	for i, r := range recs {
		row := make([]float32, len(fraudInputs))
		for k := range row {
			row[k] = float32(float64((i+1)*10+k) + 0.25)
		}
		if r.Dead() || r.Result.Score != predict(t, m, row) || math.IsNaN(r.Result.Score) {
			t.Errorf("%s: champion %+v stage %q", r.Event.ID, r.Result, r.Stage)
		}
		if r.Shadow.Err == nil || r.Shadow.Stage != StageFeatures {
			t.Errorf("%s: challenger outcome %+v, want a features error", r.Event.ID, r.Shadow)
		}
	}
}
