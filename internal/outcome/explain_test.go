package outcome

import (
	"fmt"
	"testing"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/lightgbm"
)

// TestReasonsOfAFloat64Model: a LightGBM model takes float64 rows; its
// predictions' reasons are the top contributions of its own explainer on
// those rows, with the inputs' values (rounded to float32, as
// contributions are), never empty.
func TestReasonsOfAFloat64Model(t *testing.T) {
	m, err := lightgbm.Load("../../scoring/lightgbm/testdata/numerical.txt", "")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := schemas.NewDecoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	core, err := New(modelset.Static(map[string]*scoring.Scorer{"transactions": sc}),
		[]Input{{Topic: "transactions", Kind: schemas.Transaction, Decoder: dec}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*Record
	var rows [][]float64
	for i := 0; i < 50; i++ {
		row := []float64{float64(i%7) - 3.3, float64(i) * 0.37, float64(i%5) * 1.1}
		rows = append(rows, row)
		r := &Record{Topic: "transactions", Value: []byte(fmt.Sprintf(
			`{"event_id":"e%d","customer_id":"c1","event_time":1795787100000,"a":%v,"b":%v,"c":%v}`, i, row[0], row[1], row[2]))}
		if err := core.Decode(r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	b := core.NewBatch()
	b.SetExplain(Explain{For: ExplainAll, TopK: 2})
	b.Score(recs)
	e, err := sc.Explainer()
	if err != nil {
		t.Fatal(err)
	}
	e64, ok := e.(scoring.Explainer64)
	if !ok {
		t.Fatal("the LightGBM explainer has no Explain64")
	}
	width := len(sc.Info().Features) + 1
	contrib := make([]float32, scoring.ContributionLen(sc.Info()))
	for i, r := range recs {
		if r.Dead() {
			t.Fatalf("record %d: %v", i, r.Err)
		}
		if err := e64.Explain64(rows[i], contrib); err != nil {
			t.Fatal(err)
		}
		x := []float32{float32(rows[i][0]), float32(rows[i][1]), float32(rows[i][2])}
		want := scoring.TopReasons(nil, contrib[:width], x, 2)
		if len(want) == 0 || fmt.Sprint(r.Reasons) != fmt.Sprint(want) {
			t.Errorf("record %d: reasons %v, want %v", i, r.Reasons, want)
		}
	}
}
