package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/drift"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring/linear"
	"github.com/streamscore/streamscore/scoring/xgboost"
)

// metricValue is the value of the sample of family name whose labels
// include want, and whether there is one.
func metricValue(t *testing.T, p *Pipeline, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fams, err := p.obs.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// brute is the quality of pairs computed directly from the definitions
// (DESIGN, package quality's doc): AUC over every (positive, negative)
// pair, ties one half; log loss with p clipped to [1e-15, 1−1e-15];
// Brier; ECE over bins ⌊10p⌋ (1.0 in the last).
type bruteScores struct{ auc, logLoss, brier, ece, rate float64 }

func brute(pairs []quality.Pair) bruteScores {
	var s bruteScores
	var wins float64
	pos, neg := 0, 0
	for _, a := range pairs {
		if a.Label == 1 {
			pos++
		} else {
			neg++
		}
		for _, b := range pairs {
			if a.Label == 1 && b.Label == 0 {
				switch {
				case a.Score > b.Score:
					wins++
				case a.Score == b.Score:
					wins += 0.5
				}
			}
		}
	}
	s.auc = wins / float64(pos*neg)
	var bins [10]struct{ n, p, y float64 }
	for _, a := range pairs {
		p := min(max(a.Score, 1e-15), 1-1e-15)
		y := float64(a.Label)
		s.logLoss -= y*math.Log(p) + (1-y)*math.Log(1-p)
		s.brier += (a.Score - y) * (a.Score - y)
		s.rate += y
		b := min(int(a.Score*10), 9)
		bins[b].n++
		bins[b].p += a.Score
		bins[b].y += y
	}
	n := float64(len(pairs))
	for _, b := range bins {
		if b.n > 0 {
			s.ece += b.n / n * math.Abs(b.y/b.n-b.p/b.n)
		}
	}
	s.logLoss /= n
	s.brier /= n
	s.rate /= n
	return s
}

func close12(a, b float64) bool { return math.Abs(a-b) <= 1e-12*max(1, math.Abs(b)) }

// TestLabelQualityOnTheStream: labels on LABELS_TOPIC join the
// predictions of the same lane, in both delivery modes, and the quality
// metrics the service publishes equal a brute-force computation over the
// same joined set — with tied scores, with labels that arrived before
// their prediction (joined when it comes), duplicates (the first wins),
// labels for events nobody scored (unknown), invalid values and malformed
// records (counted; never dead letters), and the 1 h window rolled past
// the first labels while the 24 h window holds them all.
func TestLabelQualityOnTheStream(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		t.Run(mode, func(t *testing.T) { testLabelQuality(t, mode) })
	}
}

func testLabelQuality(t *testing.T, mode string) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "labels", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: 2}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "DELIVERY": mode,
		"KAFKA_GROUP_INSTANCE_ID": "watch-0", "LABELS_TOPIC": "labels", "LABEL_PENDING_FOR": "10m",
		"BATCH_INTERVAL": "20ms", "BATCH_MAX_SIZE": "64", "COMMIT_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"})
	p, stop := runFor(t, cfg)
	committed := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	label := func(entity, id string, y int, at time.Time) *kgo.Record {
		return &kgo.Record{Topic: "labels", Key: []byte(entity), Value: fmt.Appendf(nil, `{"event_id":%q,"label":%d}`, id, y), Timestamp: at}
	}
	// events 200…209: their labels come first (the entity keys are those
	// produceEvents will draw: the same seed)
	early := map[string]int{}
	rng := rand.New(rand.NewPCG(200, uint64(len(schemas.Transaction))))
	var recs []*kgo.Record
	for i := 200; i < 210; i++ {
		ev, _ := genEvent(rng, schemas.Transaction, i)
		id, _ := ev.Field("event_id")
		ent, _ := ev.Field("customer_id")
		early[id.Str] = i % 2
		recs = append(recs, label(ent.Str, id.Str, i%2, time.Time{}))
	}
	testkafka.Produce(t, addrs, recs...)
	waitFor(t, func() bool { return p.watch.quality.Snapshot(time.Now()).Counts.Pending == 10 }, "10 pending labels")

	// 200 events, every third with the same inputs (tied scores), then 200…209
	want := map[string]sent{}
	n := 0
	produceEventsWith(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 200, want, func(ev *schemas.Event) {
		if n++; n%3 == 0 {
			ev.Fields = append(ev.Fields[:3], schemas.Field{Name: "amount", Value: schemas.NumberValue(42)})
		}
	})
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 200, 10, want)
	preds := testkafka.ReadN(t, addrs, "predictions", 210, 30*time.Second, committed)
	score, version := scoresOf(t, preds)
	if len(score) != 210 {
		t.Fatalf("%d predictions, want 210", len(score))
	}
	ties := map[float64]int{}
	for _, s := range score {
		ties[s]++
	}
	maxTie := 0
	for _, c := range ties {
		maxTie = max(maxTie, c)
	}
	if maxTie < 60 {
		t.Fatalf("at most %d equal scores: the test needs ties", maxTie)
	}

	ids := make([]string, 0, 200)
	for i := 0; i < 200; i++ {
		ids = append(ids, fmt.Sprintf("transaction-%d", i))
	}
	lrng := rand.New(rand.NewPCG(7, 7))
	y := map[string]int{}
	for _, id := range ids {
		if lrng.Float64() < 0.1+0.8*score[id] { // labels that follow the score, somewhat
			y[id] = 1
		} else {
			y[id] = 0
		}
	}
	// A: labels of 0…149 now, duplicates of 0…9 with the other value,
	// unknown ids, invalid values for 150 and 151, malformed records
	var pairsA, pairsB []quality.Pair
	recs = nil
	for _, id := range ids[:150] {
		recs = append(recs, label(want[id].entity, id, y[id], time.Time{}))
		pairsA = append(pairsA, quality.Pair{Score: score[id], Label: y[id]})
	}
	for _, id := range ids[:10] {
		recs = append(recs, label(want[id].entity, id, 1-y[id], time.Time{}))
	}
	for k := 0; k < 5; k++ {
		recs = append(recs, label(fmt.Sprintf("c%d", k), fmt.Sprintf("nobody-%d", k), 1, time.Time{}))
	}
	for _, id := range ids[150:152] {
		recs = append(recs, label(want[id].entity, id, 2, time.Time{}))
	}
	for k := 0; k < 3; k++ {
		recs = append(recs, &kgo.Record{Topic: "labels", Key: []byte(fmt.Sprintf("c%d", k)), Value: []byte(`{"event":"not a label"`)})
	}
	testkafka.Produce(t, addrs, recs...)
	for id, l := range early {
		pairsA = append(pairsA, quality.Pair{Score: score[id], Label: l})
	}
	waitFor(t, func() bool {
		c := p.watch.quality.Snapshot(time.Now()).Counts
		return c.Labels[quality.Joined] == 150 && c.Labels[quality.Duplicate] == 10 && c.Labels[quality.Invalid] == 2
	}, "the first labels joined")
	// B: labels of 152…199 stamped two hours on: the 1 h window at
	// then + 1 min holds these only, the 24 h window all
	later := time.Now().Add(2 * time.Hour)
	recs = nil
	for _, id := range ids[152:] {
		recs = append(recs, label(want[id].entity, id, y[id], later))
		pairsB = append(pairsB, quality.Pair{Score: score[id], Label: y[id]})
	}
	testkafka.Produce(t, addrs, recs...)
	waitFor(t, func() bool {
		return p.watch.quality.Snapshot(time.Now()).Counts.Labels[quality.Joined] == 198
	}, "the later labels joined")
	waitFor(t, func() bool { return p.Stats().Labels.Load() == 10+150+10+5+2+3+48 }, "every label record read")
	at := later.Add(time.Minute)
	p.watch.publish(at)

	for _, w := range []struct {
		window string
		pairs  []quality.Pair
	}{{"1h", pairsB}, {"24h", append(append([]quality.Pair{}, pairsA...), pairsB...)}} {
		b := brute(w.pairs)
		lbl := map[string]string{"model": "xgb_fraud", "version": version, "window": w.window}
		for _, m := range []struct {
			name string
			want float64
		}{{"streamscore_model_auc", b.auc}, {"streamscore_model_log_loss", b.logLoss}, {"streamscore_model_brier", b.brier},
			{"streamscore_model_ece", b.ece}, {"streamscore_model_label_rate", b.rate}, {"streamscore_model_labelled_pairs", float64(len(w.pairs))}} {
			got, ok := metricValue(t, p, m.name, lbl)
			if !ok || !close12(got, m.want) {
				t.Errorf("%s %s: service %v (present %v), brute force %v", m.name, w.window, got, ok, m.want)
			}
		}
	}
	for result, want := range map[string]float64{"joined": 198, "joined_pending": 10, "duplicate": 10, "invalid": 2, "unknown": 5} {
		if got, _ := metricValue(t, p, "streamscore_labels_total", map[string]string{"result": result}); got != want {
			t.Errorf("streamscore_labels_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got, _ := metricValue(t, p, "streamscore_labels_malformed_total", nil); got != 3 {
		t.Errorf("streamscore_labels_malformed_total = %v, want 3", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if dlq := testkafka.ReadN(t, addrs, "predictions-dlq", 1, time.Second, committed); len(dlq) != 0 {
		t.Errorf("%d dead letters: label records must never be", len(dlq))
	}
	checkCommitted(t, addrs, cfg.GroupID, "transactions", "labels")
	if s := p.Stats(); s.Consumed.Load() != 210 || s.Predictions.Load() != 210 || s.Labels.Load() != 10+150+10+5+2+3+48 {
		t.Errorf("stats: consumed %d, predictions %d, labels %d", s.Consumed.Load(), s.Predictions.Load(), s.Labels.Load())
	}
}

// checkCommitted fails unless the group committed the end of every
// partition of the topics.
func checkCommitted(t *testing.T, addrs []string, group string, topics ...string) {
	t.Helper()
	commits := testkafka.Committed(t, addrs, group)
	testkafka.EndOffsets(t, addrs, topics...).Each(func(o kadm.ListedOffset) {
		if o.Offset == 0 {
			return
		}
		if c, ok := commits.Lookup(o.Topic, o.Partition); !ok || c.At != o.Offset {
			t.Errorf("%s[%d]: committed %v, end %d", o.Topic, o.Partition, c.At, o.Offset)
		}
	})
}

// psiRef is PSI computed from the definition (package drift's doc), apart
// from its code: bin i holds edges[i−1] < x ≤ edges[i], shares floored at
// 1e-4.
func psiRef(h drift.Histogram, rows uint64, live []float64, withMissing bool) float64 {
	counts := make([]float64, len(h.Counts)+1)
	n := 0.0
	for _, x := range live {
		if math.IsNaN(x) {
			counts[len(h.Counts)]++
			n++
			continue
		}
		b := 0
		for b < len(h.Edges) && x > h.Edges[b] {
			b++
		}
		counts[b]++
		n++
	}
	k := len(h.Counts)
	if withMissing {
		k++
	} else {
		n -= counts[len(h.Counts)]
	}
	psi := 0.0
	for i := 0; i < k; i++ {
		e := float64(h.Missing) / float64(rows)
		if i < len(h.Counts) {
			e = float64(h.Counts[i]) / float64(rows)
		}
		a := counts[i] / n
		e, a = max(e, 1e-4), max(a, 1e-4)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// TestDriftOnTheStream: BASELINE_PATH turns on per-input and score PSI
// and the live missing share, equal to an independent computation over
// the rows the model was given.
func TestDriftOnTheStream(t *testing.T) {
	model := loadFraud(t)
	// the baseline: 2000 rows of another seed, with amount never missing
	b := drift.NewBuilder(fraudFeatures)
	rng := rand.New(rand.NewPCG(99, 1))
	out := make([]float32, 1)
	for i := 0; i < 2000; i++ {
		_, row := genEvent(rng, schemas.Transaction, i)
		if math.IsNaN(float64(row[0])) {
			row[0] = 10
		}
		if err := model.Predict(row, out); err != nil {
			t.Fatal(err)
		}
		r64 := make([]float64, len(row))
		for k, v := range row {
			r64[k] = float64(v)
		}
		if err := b.Add(r64, float64(out[0])); err != nil {
			t.Fatal(err)
		}
	}
	base, err := b.Build(drift.DefaultBins)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := base.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: 2}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	want := map[string]sent{}
	// live: amounts doubled (drift), distance renamed upstream (missing)
	produceEventsWith(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 300, want, func(ev *schemas.Event) {
		for i := range ev.Fields {
			switch ev.Fields[i].Name {
			case "amount":
				ev.Fields[i].Value = schemas.NumberValue(ev.Fields[i].Value.Num * 2)
			case "distance_km":
				ev.Fields[i].Name = "distance"
			}
		}
	})
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "BASELINE_PATH": path,
		"BATCH_INTERVAL": "20ms", "COMMIT_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"})
	p, stop := runFor(t, cfg)
	preds := testkafka.ReadN(t, addrs, "predictions", 300, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(preds) != 300 {
		t.Fatalf("%d predictions", len(preds))
	}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	var scores []float64
	cols := make([][]float64, len(fraudFeatures))
	for _, r := range preds {
		pr, _ := dec.Decode(r.Value)
		scores = append(scores, pr.Score)
		row := want[pr.EventID].row
		for k := range fraudFeatures {
			v := float64(row[k])
			switch fraudFeatures[k] {
			case "amount":
				v *= 2
			case "distance_km":
				v = math.NaN()
			}
			cols[k] = append(cols[k], v)
		}
	}
	p.watch.publish(time.Now())
	for k, f := range base.Features {
		lbl := map[string]string{"model": "xgb_fraud", "feature": f.Name, "window": "1h"}
		got, ok := metricValue(t, p, "streamscore_feature_psi", lbl)
		if want := psiRef(f.Histogram, base.Rows, cols[k], true); !ok || !close12(got, want) {
			t.Errorf("PSI of %s: service %v (present %v), reference %v", f.Name, got, ok, want)
		}
		missing := 0
		for _, v := range cols[k] {
			if math.IsNaN(v) {
				missing++
			}
		}
		if got, _ := metricValue(t, p, "streamscore_feature_missing_ratio", lbl); got != float64(missing)/300 {
			t.Errorf("missing share of %s: service %v, want %v", f.Name, got, float64(missing)/300)
		}
	}
	got, ok := metricValue(t, p, "streamscore_score_psi", map[string]string{"model": "xgb_fraud", "window": "1h"})
	if want := psiRef(base.Score, base.Rows, scores, false); !ok || !close12(got, want) {
		t.Errorf("score PSI: service %v (present %v), reference %v", got, ok, want)
	}
	if psi, _ := metricValue(t, p, "streamscore_feature_psi", map[string]string{"feature": "amount", "window": "1h"}); psi < 0.2 {
		t.Errorf("PSI of the doubled amount %v: want a shift above 0.2", psi)
	}
	if m, _ := metricValue(t, p, "streamscore_feature_missing_ratio", map[string]string{"feature": "distance_km", "window": "1h"}); m != 1 {
		t.Errorf("missing share of the renamed field %v, want 1", m)
	}
}

// writeChallenger writes a logistic challenger on the fraud model's
// inputs (missing inputs count 0), or with broken set one that reads an
// input no event has, without a missing value, so that every score is
// NaN and fails.
func writeChallenger(t *testing.T, dir string, broken bool) string {
	t.Helper()
	features := append([]string{}, fraudFeatures...)
	missing := map[string]float64{}
	for _, f := range features {
		missing[f] = 0
	}
	if broken {
		features = append(features, "no_such_field")
	}
	coef := make([]float64, len(features))
	for i := range coef {
		coef[i] = 0.001 * float64(i+1)
	}
	b, _ := json.Marshal(map[string]any{"format": "streamscore-linear", "link": "logistic", "features": features,
		"coefficients": coef, "intercept": -1.5, "missing": missing})
	path := filepath.Join(dir, "challenger.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestShadowOnTheStream: a route's challenger scores every event the
// champion predicts; each event gets exactly one champion prediction in
// the champion's topic and one challenger prediction, equal to the
// challenger model's own score, in the challenger's; a challenger that
// fails to load or fails on every record leaves the champion's output
// and commits as they are, and nothing of it is dead-lettered.
func TestShadowOnTheStream(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		for _, variant := range []string{"ok", "unloadable", "failing"} {
			t.Run(mode+"/"+variant, func(t *testing.T) { testShadow(t, mode, variant) })
		}
	}
}

func testShadow(t *testing.T, mode, variant string) {
	dir := t.TempDir()
	challenger := writeChallenger(t, dir, variant == "failing")
	if variant == "unloadable" {
		os.WriteFile(challenger, []byte(`{"format": "streamscore-linear", "link": "logistic", "features": [`), 0o644)
	}
	file := filepath.Join(dir, "models.yaml")
	os.WriteFile(file, fmt.Appendf(nil, `models:
  - topics: [transactions]
    path: %s
    shadow: {path: %s, name: challenger, output_topic: challenger-scores}
`, mustAbs(t, fraudModel), challenger), 0o644)
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "predictions", Partitions: 2},
		testkafka.Topic{Name: "challenger-scores", Partitions: 2}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1},
		testkafka.Topic{Name: "labels", Partitions: 2})
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 250, want)
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODELS_FILE": file, "DELIVERY": mode, "KAFKA_GROUP_INSTANCE_ID": "shadow-0", "LABELS_TOPIC": "labels",
		"BATCH_INTERVAL": "20ms", "BATCH_MAX_SIZE": "64", "COMMIT_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"})
	p, stop := runFor(t, cfg)
	committed := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	champ := testkafka.ReadN(t, addrs, "predictions", 250, 30*time.Second, committed)
	nShadow := 250
	if variant != "ok" {
		nShadow = 1 // none expected: read briefly
	}
	shadow := testkafka.ReadN(t, addrs, "challenger-scores", nShadow, 5*time.Second, committed)
	// labels for every event: the champion's and the challenger's
	// predictions of it each join it, in their own series
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	lrng := rand.New(rand.NewPCG(5, 5))
	var labels []*kgo.Record
	pairs := map[string][]quality.Pair{}
	y := map[string]int{}
	for _, r := range champ {
		pr, _ := dec.Decode(r.Value)
		y[pr.EventID] = lrng.IntN(2)
		pairs[pr.ModelName] = append(pairs[pr.ModelName], quality.Pair{Score: pr.Score, Label: y[pr.EventID]})
		labels = append(labels, &kgo.Record{Topic: "labels", Key: r.Key, Value: fmt.Appendf(nil, `{"event_id":%q,"label":%d}`, pr.EventID, y[pr.EventID])})
	}
	for _, r := range shadow {
		pr, _ := dec.Decode(r.Value)
		pairs[pr.ModelName] = append(pairs[pr.ModelName], quality.Pair{Score: pr.Score, Label: y[pr.EventID]})
	}
	testkafka.Produce(t, addrs, labels...)
	waitFor(t, func() bool { return p.watch.quality.Snapshot(time.Now()).Counts.Labels[quality.Joined] == 250 }, "250 labels joined")
	p.watch.publish(time.Now())
	for model, ps := range pairs {
		b := brute(ps)
		for name, want := range map[string]float64{"streamscore_model_auc": b.auc, "streamscore_model_labelled_pairs": float64(len(ps))} {
			if got, ok := metricValue(t, p, name, map[string]string{"model": model, "window": "1h"}); !ok || !close12(got, want) {
				t.Errorf("%s of %s: service %v (present %v), brute force %v", name, model, got, ok, want)
			}
		}
	}
	if _, ok := metricValue(t, p, "streamscore_model_labelled_pairs", map[string]string{"model": "challenger"}); ok != (variant == "ok") {
		t.Errorf("challenger quality series present %v, want %v", ok, variant == "ok")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	checkPredictions(t, schemas.JSON, champ, want, loadFraud(t))
	dlq := testkafka.ReadN(t, addrs, "predictions-dlq", 1, time.Second, committed)
	if len(dlq) != 0 {
		t.Errorf("%d dead letters, want none", len(dlq))
	}
	checkCommitted(t, addrs, cfg.GroupID, "transactions")
	results := map[string]float64{}
	for _, r := range []string{"ok", "failed", "skipped"} {
		results[r], _ = metricValue(t, p, "streamscore_shadow_predictions_total", map[string]string{"result": r})
	}
	switch variant {
	case "ok":
		m, err := linear.Load(challenger, "challenger")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		out := make([]float32, 1)
		x := make([]float32, len(fraudFeatures))
		for _, r := range shadow {
			pr, err := dec.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			seen[pr.EventID]++
			w := want[pr.EventID]
			copy(x, w.row)
			if err := m.Predict(x, out); err != nil {
				t.Fatal(err)
			}
			if pr.ModelName != "challenger" || pr.Score != float64(out[0]) || string(r.Key) != w.entity {
				t.Errorf("challenger prediction %+v: want model challenger, score %v, key %s", pr, out[0], w.entity)
			}
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("%s: %d challenger predictions, want 1", id, seen[id])
			}
		}
		if len(shadow) != 250 || results["ok"] != 250 || results["failed"] != 0 {
			t.Errorf("%d challenger predictions, results %v; want 250 ok", len(shadow), results)
		}
		if n, _ := metricValue(t, p, "streamscore_shadow_events", map[string]string{"challenger": "challenger", "window": "1h"}); n != 250 {
			t.Errorf("streamscore_shadow_events = %v, want 250", n)
		}
	case "unloadable":
		if len(shadow) != 0 || results["skipped"] != 250 || results["ok"] != 0 {
			t.Errorf("%d challenger predictions, results %v; want none, 250 skipped", len(shadow), results)
		}
	case "failing":
		if len(shadow) != 0 || results["failed"] != 250 || results["ok"] != 0 {
			t.Errorf("%d challenger predictions, results %v; want none, 250 failed", len(shadow), results)
		}
	}
}

func loadFraud(t *testing.T) *xgboost.Model {
	t.Helper()
	m, err := xgboost.Load(fraudModel, "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeLinear writes a logistic model on the fraud model's inputs with
// the given version (missing inputs count 0).
func writeLinear(t *testing.T, path, version string, scale float64) {
	t.Helper()
	missing := map[string]float64{}
	coef := make([]float64, len(fraudFeatures))
	for i, f := range fraudFeatures {
		missing[f] = 0
		coef[i] = scale * 0.001 * float64(len(fraudFeatures)-i)
	}
	b, _ := json.Marshal(map[string]any{"format": "streamscore-linear", "link": "logistic", "features": fraudFeatures,
		"coefficients": coef, "intercept": -1, "missing": missing, "version": version})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestLabelsOfAnotherVersion: a label joins the prediction of the model
// version that made it — a reload in between puts the labels of the
// events scored before it in the old version's series, those after in
// the new one's, each equal to the brute force over its own pairs.
func TestLabelsOfAnotherVersion(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "labels", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: 2}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	path := filepath.Join(t.TempDir(), "lin.json")
	writeLinear(t, path, "v1", 1)
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": path, "LABELS_TOPIC": "labels",
		"BATCH_INTERVAL": "20ms", "COMMIT_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reload := make(chan struct{}, 1)
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...), WithReloadSignal(reload))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 100, want)
	testkafka.ReadN(t, addrs, "predictions", 100, 30*time.Second)
	writeLinear(t, path, "v2", -3) // other scores: a label joined to the wrong version would show
	reload <- struct{}{}
	waitFor(t, func() bool { return p.Models().Routes()[0].Scorer().Info().Version == "v2" }, "the reload")
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 100, 100, want)
	preds := testkafka.ReadN(t, addrs, "predictions", 200, 30*time.Second)
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	pairs := map[string][]quality.Pair{}
	var recs []*kgo.Record
	rng := rand.New(rand.NewPCG(3, 3))
	for _, r := range preds {
		pr, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		y := 0
		if rng.Float64() < 0.2+0.6*pr.Score {
			y = 1
		}
		pairs[pr.ModelVersion] = append(pairs[pr.ModelVersion], quality.Pair{Score: pr.Score, Label: y})
		recs = append(recs, &kgo.Record{Topic: "labels", Key: r.Key, Value: fmt.Appendf(nil, `{"event_id":%q,"label":%d}`, pr.EventID, y)})
	}
	if len(pairs["v1"]) != 100 || len(pairs["v2"]) != 100 {
		t.Fatalf("predictions by version: v1 %d, v2 %d; want 100 each", len(pairs["v1"]), len(pairs["v2"]))
	}
	testkafka.Produce(t, addrs, recs...)
	waitFor(t, func() bool { return p.watch.quality.Snapshot(time.Now()).Counts.Labels[quality.Joined] == 200 }, "200 labels joined")
	p.watch.publish(time.Now())
	for _, v := range []string{"v1", "v2"} {
		b := brute(pairs[v])
		lbl := map[string]string{"model": "lin", "version": v, "window": "1h"}
		for name, want := range map[string]float64{"streamscore_model_auc": b.auc, "streamscore_model_log_loss": b.logLoss,
			"streamscore_model_brier": b.brier, "streamscore_model_labelled_pairs": 100} {
			if got, ok := metricValue(t, p, name, lbl); !ok || !close12(got, want) {
				t.Errorf("%s %s: service %v (present %v), brute force %v", name, v, got, ok, want)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLabelStateAfterRestart: label state is rebuilt on assignment. A
// first run scores 60 events (and, in some cases, joins the labels of 20
// of them, committed); the next run reads the predictions back from the
// output topic (which may have another partition count than the inputs)
// and the labels up to the committed offset, so that the labels sent after
// the restart (or while it was down) join: none is unknown, the labels joined before are not
// counted again (nor their predictions joined twice), and the quality
// metrics equal a brute force over all 60 pairs. Nothing is dead-lettered
// and every offset is committed. With LABEL_REBUILD=false the state starts
// empty: the labels end unknown.
func TestLabelStateAfterRestart(t *testing.T) {
	for _, tt := range []struct {
		name          string
		mode          string
		outPartitions int32
		before        int // labels joined and committed before the restart
		off           bool
	}{
		{"at-least-once", "at-least-once", 2, 0, false},
		{"at-least-once/labels-before", "at-least-once", 2, 20, false},
		{"at-least-once/output-3-partitions", "at-least-once", 3, 20, false},
		{"exactly-once/labels-before", "exactly-once", 2, 20, false},
		{"exactly-once/output-1-partition", "exactly-once", 1, 0, false},
		{"at-least-once/rebuild-off", "at-least-once", 2, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) { testLabelRebuild(t, tt.mode, tt.outPartitions, tt.before, tt.off) })
	}
}

func testLabelRebuild(t *testing.T, mode string, outPartitions int32, before int, off bool) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "labels", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: outPartitions}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "LABELS_TOPIC": "labels", "LABEL_PENDING_FOR": "1s",
		"DELIVERY": mode, "KAFKA_GROUP_INSTANCE_ID": "rebuild-0", "LABEL_REBUILD": fmt.Sprint(!off),
		"BATCH_INTERVAL": "20ms", "COMMIT_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"})
	committed := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 60, want)
	p, stop := runFor(t, cfg)
	preds := testkafka.ReadN(t, addrs, "predictions", 60, 30*time.Second, committed)
	score, version := scoresOf(t, preds)
	ids := make([]string, 0, 60)
	for i := 0; i < 60; i++ {
		ids = append(ids, fmt.Sprintf("transaction-%d", i))
	}
	if len(score) != 60 {
		t.Fatalf("%d predictions, want 60", len(score))
	}
	y := map[string]int{}
	var pairs []quality.Pair
	label := func(id string) *kgo.Record {
		return &kgo.Record{Topic: "labels", Key: []byte(want[id].entity), Value: fmt.Appendf(nil, `{"event_id":%q,"label":%d}`, id, y[id])}
	}
	for i, id := range ids {
		if score[id] > 0.5 == (i%4 != 0) { // mostly following the score
			y[id] = 1
		}
		pairs = append(pairs, quality.Pair{Score: score[id], Label: y[id]})
	}
	var recs []*kgo.Record
	for _, id := range ids[:before] {
		recs = append(recs, label(id))
	}
	if before > 0 {
		testkafka.Produce(t, addrs, recs...)
		waitFor(t, func() bool {
			return p.watch.quality.Snapshot(time.Now()).Counts.Labels[quality.Joined] == uint64(before)
		}, "the first labels joined")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkCommitted(t, addrs, cfg.GroupID, "transactions", "labels")
	// labels that arrive while the service is down are read live after
	// the restart, not replayed as well
	recs = nil
	for _, id := range ids[before : before+10] {
		recs = append(recs, label(id))
	}
	testkafka.Produce(t, addrs, recs...)

	p, stop = runFor(t, cfg)
	recs = nil
	for _, id := range ids[before+10:] {
		recs = append(recs, label(id))
	}
	testkafka.Produce(t, addrs, recs...)
	after := uint64(60 - before)
	if off { // the state started empty: the labels wait, then end unknown once a later label moves the lanes' clocks on
		later := time.Now().Add(time.Minute)
		for k := 0; k < 40; k++ {
			testkafka.Produce(t, addrs, &kgo.Record{Topic: "labels", Key: fmt.Appendf(nil, "c%d", k), Timestamp: later,
				Value: fmt.Appendf(nil, `{"event_id":"tick-%d","label":0}`, k)})
		}
		waitFor(t, func() bool { return p.watch.quality.Snapshot(time.Now()).Counts.Labels[quality.Unknown] == after }, "unknown labels")
		waitFor(t, func() bool { return p.Stats().Labels.Load() == int64(after)+40 }, "every label record read")
		if c := p.watch.quality.Snapshot(time.Now()).Counts; c.Labels[quality.Joined] != 0 || c.Labels[quality.JoinedPending] != 0 {
			t.Errorf("labels joined without a rebuild: %+v", c)
		}
	} else {
		waitFor(t, func() bool { return p.watch.quality.Snapshot(time.Now()).Counts.Labels[quality.Joined] == after }, "the labels joined")
		waitFor(t, func() bool { return p.Stats().Labels.Load() == int64(after) }, "every label record read")
		time.Sleep(200 * time.Millisecond) // a label counted twice would show now
		snap := p.watch.quality.Snapshot(time.Now())
		c := snap.Counts
		for o := quality.Joined; o <= quality.JoinedPending; o++ {
			if wantN := map[quality.Outcome]uint64{quality.Joined: after}[o]; c.Labels[o] != wantN {
				t.Errorf("%s labels: %d, want %d (%+v)", o, c.Labels[o], wantN, c)
			}
		}
		if c.Pending != 0 || c.Kept != 60 || c.DuplicatePredictions != 0 {
			t.Errorf("counts after the rebuild: %+v", c)
		}
		p.watch.publish(time.Now())
		b := brute(pairs)
		lbl := map[string]string{"model": "xgb_fraud", "version": version, "window": "24h"}
		for _, m := range []struct {
			name string
			want float64
		}{{"streamscore_model_auc", b.auc}, {"streamscore_model_log_loss", b.logLoss}, {"streamscore_model_brier", b.brier},
			{"streamscore_model_ece", b.ece}, {"streamscore_model_label_rate", b.rate}, {"streamscore_model_labelled_pairs", 60}} {
			got, ok := metricValue(t, p, m.name, lbl)
			if !ok || !close12(got, m.want) {
				t.Errorf("%s: service %v (present %v), brute force %v", m.name, got, ok, m.want)
			}
		}
		for name, wantN := range map[string]float64{"streamscore_label_rebuild_predictions_total": 60,
			"streamscore_label_rebuild_labels_total": float64(before), "streamscore_label_rebuild_failures_total": 0,
			"streamscore_label_rebuild_dropped_total": 0, "streamscore_label_rebuilding": 0} {
			if got, ok := metricValue(t, p, name, nil); !ok || got != wantN {
				t.Errorf("%s = %v (present %v), want %v", name, got, ok, wantN)
			}
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if dlq := testkafka.ReadN(t, addrs, "predictions-dlq", 1, time.Second, committed); len(dlq) != 0 {
		t.Errorf("%d dead letters", len(dlq))
	}
	checkCommitted(t, addrs, cfg.GroupID, "transactions", "labels")
}

// scoresOf decodes JSON predictions: each event's score, and the model
// version of the last.
func scoresOf(t *testing.T, preds []*kgo.Record) (score map[string]float64, version string) {
	t.Helper()
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	score = map[string]float64{}
	for _, r := range preds {
		pr, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		score[pr.EventID], version = pr.Score, pr.ModelVersion
	}
	return score, version
}
