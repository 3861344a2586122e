//go:build interop

package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reference reads up to n rows of a reference CSV: feature name → value
// string per row ("nan" = missing) and the expected class probabilities.
func reference(t *testing.T, path string, features, expect []string, n int) (rows []map[string]string, want [][]float32) {
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
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, rec := range recs[1:min(len(recs), n+1)] {
		row := map[string]string{}
		for _, name := range features {
			row[name] = rec[col[name]]
		}
		var w []float32
		for _, name := range expect {
			v, err := strconv.ParseFloat(rec[col[name]], 64)
			if err != nil {
				t.Fatal(err)
			}
			w = append(w, float32(v))
		}
		rows, want = append(rows, row), append(want, w)
	}
	return rows, want
}

func ulps(a, b float32) int64 {
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

// TestRunScoresKcatEventsLikeXGBoost is the core issue's outside check:
// JSON events produced by librdkafka with fields named after a model's
// features (absent = missing), streamscore run on a model file it has
// never seen, predictions read back by librdkafka.
func TestRunScoresKcatEventsLikeXGBoost(t *testing.T) {
	cases := []struct {
		name, model, csv string
		features, expect []string
	}{
		{"binary", "xgb_fraud.json", "xgb_fraud_test.csv",
			[]string{"amount", "hour", "merchant_risk", "tx_count_1h", "distance_km", "account_age_days", "device_score", "velocity_ratio"},
			[]string{"expected_prob"}},
		{"multiclass", "xgb_multi.ubj", "xgb_multi_test.csv",
			[]string{"f0", "f1", "f2", "f3"}, []string{"expected_prob0", "expected_prob1", "expected_prob2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			broker := devkafka(t, "transactions:3,predictions:3,predictions-dlq:1")
			rows, want := reference(t, "../../scoring/xgboost/testdata/"+tc.csv, tc.features, tc.expect, 400)
			var lines []string
			for i, row := range rows {
				obj := fmt.Sprintf(`{"event_id":"e%d","customer_id":"cust-%d","event_time":%d,"ignored":"x"`, i, i%37, 1795787100000+i)
				for _, name := range tc.features {
					if v := row[name]; v != "nan" {
						obj += fmt.Sprintf(`,%q:%s`, name, v)
					}
				}
				lines = append(lines, fmt.Sprintf("cust-%d|%s}", i%37, obj))
			}
			lines = append(lines, "bad-1|this is not json",
				fmt.Sprintf(`bad-2|{"event_id":"b2","customer_id":"c","event_time":1,%q:"text"}`, tc.features[0]))
			kcatProduce(t, broker, "transactions", lines)

			stop := streamscore(t, map[string]string{
				"KAFKA_BROKERS": broker, "INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json",
				"MODEL_PATH": "../../scoring/xgboost/testdata/" + tc.model, "BATCH_INTERVAL": "50ms",
				"LOG_LEVEL": "debug",
			})
			keys, values := kcatConsume(t, broker, "predictions", len(rows), 60*time.Second)
			_, dead := kcatConsume(t, broker, "predictions-dlq", 2, 20*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("streamscore run did not exit cleanly on SIGTERM: %v", err)
			}
			if len(values) != len(rows) {
				t.Fatalf("%d predictions for %d events", len(values), len(rows))
			}
			if len(dead) != 2 {
				t.Errorf("%d dead letters, want 2", len(dead))
			}
			seen := map[int]bool{}
			exact := 0
			for k, v := range values {
				var p struct {
					EventID  string    `json:"event_id"`
					EntityID string    `json:"entity_id"`
					Score    float64   `json:"score"`
					Label    int       `json:"label"`
					Scores   []float64 `json:"scores"`
				}
				if err := json.Unmarshal([]byte(v), &p); err != nil {
					t.Fatalf("prediction %q: %v", v, err)
				}
				i, err := strconv.Atoi(strings.TrimPrefix(p.EventID, "e"))
				if err != nil || i >= len(rows) || seen[i] {
					t.Fatalf("unexpected or duplicate event id %q", p.EventID)
				}
				seen[i] = true
				if wantEntity := fmt.Sprintf("cust-%d", i%37); p.EntityID != wantEntity || keys[k] != wantEntity {
					t.Errorf("%s: entity %q key %q, want %q", p.EventID, p.EntityID, keys[k], wantEntity)
				}
				w := want[i]
				top := 0
				for c := range w {
					if w[c] > w[top] {
						top = c
					}
				}
				exp := w[0]
				if len(w) > 1 {
					exp = w[top]
					if len(p.Scores) != len(w) || p.Label != top {
						t.Errorf("%s: label %d scores %v, want %d %v", p.EventID, p.Label, p.Scores, top, w)
					}
				}
				if float64(float32(p.Score)) != p.Score {
					t.Errorf("%s: score %v is not a widened float32", p.EventID, p.Score)
				}
				switch d := ulps(float32(p.Score), exp); {
				case d == 0:
					exact++
				case d > 1:
					t.Errorf("%s: score %v, XGBoost %v (%d ulps)", p.EventID, p.Score, exp, d)
				}
			}
			t.Logf("%d events -> %d predictions (%d bit-exact with XGBoost), %d dead letters", len(rows), len(values), exact, len(dead))
		})
	}
}
