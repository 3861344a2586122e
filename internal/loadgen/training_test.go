package loadgen

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/models"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

const aggFeatures = `features:
  - amount
  - {name: failed_logins_1h, aggregate: {fn: count, of: activity, over: 1h, where: {activity_type: login_failed}}}
  - {name: tx_count_1h, aggregate: {fn: count, of: transaction, over: 1h}}
  - {name: amount_sum_1h, aggregate: {fn: sum, of: transaction, field: amount, over: 1h}}
  - {name: secs_since_new_device, aggregate: {fn: since_last, of: activity, over: 24h, where: {new_device: true}}}
`

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestTrainingRowsAreScoreWithFeatures: loadgen's training rows are, row
// for row and cell for cell, the features `streamscore score
// --with-features` writes for the rows of that kind of the same log, with
// the log's label; and the aggregates in them equal a brute-force
// evaluation of the definition over the log.
func TestTrainingRowsAreScoreWithFeatures(t *testing.T) {
	dir := t.TempDir()
	feats := filepath.Join(dir, "f.yaml")
	os.WriteFile(feats, []byte(aggFeatures), 0o644)
	aggSpecs, err := scoring.ReadFeatureFile(feats)
	if err != nil {
		t.Fatal(err)
	}
	fraudSpecs, err := models.FraudFeatures()
	if err != nil {
		t.Fatal(err)
	}
	takeoverSpecs, err := models.TakeoverFeatures()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		specs []scoring.FeatureSpec
		kind  schemas.EventType
		rows  int
	}{
		{"aggregates", aggSpecs, schemas.Transaction, 6000},
		{"bundled fraud", fraudSpecs, schemas.Transaction, 3000},
		{"bundled takeover", takeoverSpecs, schemas.Activity, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			train, logPath := filepath.Join(dir, tc.name+".train.csv"), filepath.Join(dir, tc.name+".log.csv")
			sum, err := WriteTraining(context.Background(), TrainingOptions{Path: train, LogPath: logPath, Specs: tc.specs, Kind: tc.kind,
				Rows: tc.rows, LogRate: 0.2, Seed: 3, Customers: 300, Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Rows != tc.rows || sum.Positives == 0 || sum.Events <= tc.rows {
				t.Fatalf("summary %+v", sum)
			}
			// score --with-features over the kept log, with a model of
			// those inputs
			sc, err := scoring.NewScorer(entitytest.FirstFinite{N: len(tc.specs)}, tc.specs, scoring.DefaultPolicy)
			if err != nil {
				t.Fatal(err)
			}
			scored := filepath.Join(dir, tc.name+".scored.csv")
			if _, err := batchscore.Run(context.Background(), batchscore.Options{Scorer: sc, Input: logPath, Output: scored, WithFeatures: true}); err != nil {
				t.Fatal(err)
			}
			got, all := readCSV(t, train), readCSV(t, scored)
			names := sc.Plan().Names()
			if want := append(slices.Clone(names), "label"); !slices.Equal(got[0], want) {
				t.Fatalf("training header %v, want %v", got[0], want)
			}
			col := map[string]int{}
			for i, h := range all[0] {
				col[h] = i
			}
			var want [][]string
			for _, r := range all[1:] {
				if r[col["event_type"]] != string(tc.kind) {
					continue
				}
				var row []string
				for _, n := range names {
					row = append(row, r[col[n]])
				}
				want = append(want, append(row, r[col["ground_truth"]]))
			}
			if len(got)-1 != len(want) {
				t.Fatalf("%d training rows, score gives %d", len(got)-1, len(want))
			}
			for i := range want {
				if !slices.Equal(got[i+1], want[i]) {
					t.Fatalf("training row %d\n%v\nscore --with-features\n%v", i, got[i+1], want[i])
				}
			}
			if tc.name == "aggregates" {
				checkAggregates(t, readCSV(t, logPath), got)
			}
		})
	}
}

// checkAggregates evaluates aggFeatures' aggregates by brute force over the
// log, for every transaction, and compares them with the training rows.
func checkAggregates(t *testing.T, log, train [][]string) {
	t.Helper()
	col := map[string]int{}
	for i, h := range log[0] {
		col[h] = i
	}
	type ev struct {
		kind, entity, activity string
		ms                     int64
		amount                 float64
		hasAmount, newDevice   bool
	}
	var evs []ev
	for _, r := range log[1:] {
		tm, err := time.Parse(time.RFC3339Nano, r[col["event_time"]])
		if err != nil {
			t.Fatal(err)
		}
		e := ev{kind: r[col["event_type"]], entity: r[col["customer_id"]], activity: r[col["activity_type"]], ms: tm.UnixMilli(),
			newDevice: r[col["new_device"]] == "true"}
		if a := r[col["amount"]]; a != "" {
			e.amount, _ = strconv.ParseFloat(a, 64)
			e.hasAmount = true
		}
		evs = append(evs, e)
	}
	row, nonzero := 1, 0
	for _, e := range evs {
		if e.kind != "transaction" {
			continue
		}
		var fails, txs int
		var sum float64
		since := ""
		for _, x := range evs {
			if x.entity != e.entity || x.ms >= e.ms {
				continue
			}
			in1h := x.ms >= e.ms-3600_000
			switch {
			case x.kind == "activity" && in1h && x.activity == "login_failed":
				fails++
			case x.kind == "transaction" && in1h:
				txs++
				if x.hasAmount {
					sum += x.amount
				}
			}
			if x.kind == "activity" && x.newDevice && x.ms >= e.ms-24*3600_000 {
				since = strconv.FormatFloat(float64(float32(float64(e.ms-x.ms)/1000)), 'g', -1, 64)
			}
		}
		// sums are float64 in any order (equal within 1e-9 relative), then
		// rounded to the model's float32
		want := []string{strconv.Itoa(fails), strconv.Itoa(txs), strconv.FormatFloat(float64(float32(sum)), 'g', -1, 64), since}
		got := slices.Clone(train[row][1:5])
		if g, err := strconv.ParseFloat(got[2], 64); err == nil && math.Abs(g-float64(float32(sum))) <= 1e-6*math.Abs(sum) {
			got[2] = want[2]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("training row %d (%+v): aggregates %v, reference %v", row, e, train[row][1:5], want)
		}
		if fails > 0 {
			nonzero++
		}
		row++
	}
	if nonzero == 0 {
		t.Fatal("no transaction followed a failed login: the check checked nothing")
	}
	t.Logf("%d transactions checked, %d after failed logins", row-1, nonzero)
}
