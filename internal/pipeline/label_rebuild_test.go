package pipeline

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/internal/testregistry"
	"github.com/streamscore/streamscore/schemas"
)

// TestLabelRebuildReadsLanePartition: a label rebuild of lane 1 (only
// partition 1 assigned) reads back, from every partition of the output
// topic, exactly the predictions of input partition 1 below the group's
// committed offset that a binary classifier loaded now made within
// LABEL_WINDOW, and the labels of labels partition 1 within LABEL_WINDOW
// below the committed offset; nothing of another partition, another topic,
// an unknown model, an uncommitted record, before the window or that does
// not decode. The ops equal those listed directly, in time order, in every
// output encoding (avro-confluent: read with the schema registry client the
// pipeline's codecs share).
func TestLabelRebuildReadsLanePartition(t *testing.T) {
	for _, enc := range []string{"json", "avro", "avro-confluent"} {
		t.Run(enc, func(t *testing.T) { testLabelRebuildRead(t, enc) })
	}
}

func testLabelRebuildRead(t *testing.T, encoding string) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "labels", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: 3}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	env := map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": encoding, "MODEL_PATH": fraudModel, "LABELS_TOPIC": "labels",
		"LABEL_WINDOW": "1h", "SHUTDOWN_TIMEOUT": "2s"}
	var registry string
	if encoding == string(schemas.AvroConfluent) {
		registry = testregistry.New(t).URL()
		env["SCHEMA_REGISTRY_URL"] = registry
	}
	cfg := loadConfig(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// the group committed transactions[0] at 5, transactions[1] at 7 and
	// labels[1] at 4 (before its member joins: it commits nothing, not run)
	cl := testkafka.Client(t, addrs)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "transactions", Partition: 0, At: 5})
	offs.Add(kadm.Offset{Topic: "transactions", Partition: 1, At: 7})
	offs.Add(kadm.Offset{Topic: "labels", Partition: 1, At: 4})
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, cfg.GroupID, offs); err != nil {
		t.Fatal(err)
	}

	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // closes the pipeline's clients
		stopped, stop := context.WithCancel(context.Background())
		stop()
		_ = p.Run(stopped)
	})
	lr := p.runner.(*atLeastOnce).lrb
	if lr == nil {
		t.Fatal("no label rebuilder with LABELS_TOPIC set")
	}
	version := p.models.Routes()[0].Scorer().Info().Version

	var enc schemas.PredictionEncoder
	if registry != "" { // the schema New registered
		reg, _ := schemas.NewRegistry(registry, "", "")
		enc, err = schemas.NewConfluentPredictionEncoder(ctx, reg, "predictions-value")
	} else {
		enc, err = schemas.NewPredictionEncoder(schemas.Encoding(encoding))
	}
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	old := now.Add(-2 * time.Hour)
	var recs []*kgo.Record
	var want []quality.Op
	k := 0
	pred := func(topic string, partition int32, offset int64, model string, at time.Time, kept bool) {
		k++
		pr := schemas.Prediction{EventID: fmt.Sprintf("e%d", k), EntityID: "c", Score: float64(k) / 100, ModelName: model, ModelVersion: version,
			EventTime: schemas.Millis(at), ScoredAt: schemas.Millis(at), Source: schemas.Source{Topic: topic, Partition: partition, Offset: offset}}
		v, err := enc.Append(nil, &pr)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: "predictions", Partition: int32(k % 3), Value: v, Timestamp: at})
		if kept {
			want = append(want, quality.Op{ID: p.watch.quality.ID(pr.EventID), At: at.UnixMilli(), Model: model, Version: version, Score: pr.Score})
		}
	}
	// before the window (their records too): not read
	pred("transactions", 1, 0, "xgb_fraud", old, false)
	// partition 1 below the committed offset: kept, whatever output partition they are in
	for off := int64(1); off < 7; off++ {
		pred("transactions", 1, off, "xgb_fraud", now.Add(time.Duration(-off)*time.Minute), true)
	}
	pred("transactions", 1, 7, "xgb_fraud", now, false) // at the committed offset: scored again live
	pred("transactions", 1, 9, "xgb_fraud", now, false) // beyond it
	pred("transactions", 0, 2, "xgb_fraud", now, false) // another lane's
	pred("elsewhere", 1, 2, "xgb_fraud", now, false)    // not an input topic
	pred("transactions", 1, 3, "mystery", now, false)   // a model not loaded now: not known to be a binary classifier
	recs = append(recs, &kgo.Record{Topic: "predictions", Partition: 0, Value: []byte("not a prediction"), Timestamp: now})
	// labels of partition 1: before the window, three in it below the committed offset (one malformed), then two beyond
	label := func(partition int32, id string, y int, at time.Time, kept bool) {
		recs = append(recs, &kgo.Record{Topic: "labels", Partition: partition, Value: fmt.Appendf(nil, `{"event_id":%q,"label":%d}`, id, y), Timestamp: at})
		if kept {
			want = append(want, quality.Op{ID: p.watch.quality.ID(id), At: at.UnixMilli(), IsLabel: true, Label: y})
		}
	}
	label(1, "e2", 1, old, false)
	label(1, "e3", 0, now.Add(-2*time.Minute), true) // at the same millisecond as e3's prediction: after it
	recs = append(recs, &kgo.Record{Topic: "labels", Partition: 1, Value: []byte(`{"label":`), Timestamp: now})
	label(1, "e4", 1, now.Add(-30*time.Second), true)
	label(1, "e5", 1, now, false)
	label(1, "e6", 0, now, false)
	label(0, "e7", 1, now, false) // another lane's
	pcl := testkafka.Client(t, addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(want, func(a, b quality.Op) int {
		if a.At != b.At {
			return int(a.At - b.At)
		}
		return b2i(a.IsLabel) - b2i(b.IsLabel)
	})

	rcl, err := kgo.NewClient(lr.conn...)
	if err != nil {
		t.Fatal(err)
	}
	defer rcl.Close()
	tps := []lane.Partition{{Topic: "transactions", Partition: 1}, {Topic: "labels", Partition: 1}}
	ops, st, err := lr.read(ctx, rcl, lr.lanePartitions(tps, []int32{1}), nil, []int32{1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || !slices.Equal(ops[1], want) {
		t.Errorf("lane 1's ops:\n got %+v\nwant %+v\n(other lanes: %d)", ops[1], want, len(ops))
	}
	if st.predictions != 6 || st.labels != 2 {
		t.Errorf("read %d predictions and %d labels, want 6 and 2", st.predictions, st.labels)
	}
}

// replays records what a label rebuild hands the lanes.
type replays struct {
	mu      sync.Mutex
	started map[int32]uint64
	got     map[int32]int // ops replayed per lane; -1: none yet
}

func (r *replays) StartLabelRebuild(parts []int32, id uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range parts {
		r.started[p] = id
	}
	return nil
}

func (r *replays) ReplayLabels(p int32, id uint64, ops []quality.Op) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started[p] == id {
		r.got[p] = len(ops)
	}
	return nil
}

func (r *replays) replayed() map[int32]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.got)
}

// TestLabelRebuildThatFails: a rebuild that cannot read (an output topic
// is missing) or runs out of LABEL_REBUILD_TIMEOUT still hands every lane
// its replay (here: empty), so that what waited for it is applied, and is
// counted as failed; a rebuild whose partitions are all revoked hands
// nothing (the lanes forgot it) and is cancelled.
func TestLabelRebuildThatFails(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "labels", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: 2}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "LABELS_TOPIC": "labels", "SHUTDOWN_TIMEOUT": "2s"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopped, stop := context.WithCancel(context.Background())
		stop()
		_ = p.Run(stopped)
	})
	own := p.runner.(*atLeastOnce).lrb
	tps := []lane.Partition{{Topic: "transactions", Partition: 0}, {Topic: "transactions", Partition: 1}, {Topic: "labels", Partition: 0},
		{Topic: "labels", Partition: 1}}
	for _, tt := range []struct {
		name    string
		outputs []string
		timeout time.Duration
		revoke  bool
		want    map[int32]int
	}{
		{"output topic missing", []string{"predictions", "missing"}, time.Minute, false, map[int32]int{0: 0, 1: 0}},
		{"timeout", []string{"predictions"}, time.Nanosecond, false, map[int32]int{0: 0, 1: 0}},
		{"revoked", []string{"predictions"}, time.Minute, true, map[int32]int{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := &replays{started: map[int32]uint64{}, got: map[int32]int{}}
			lr := &labelRebuilder{p: p, lanes: fake, conn: own.conn, group: own.group, labels: "labels", inputs: own.inputs, outputs: tt.outputs,
				window: time.Hour, timeout: tt.timeout, enc: own.enc, preds: own.preds, labelDec: own.labelDec, reg: own.reg, running: map[uint64]*labelRun{}}
			reading := make(chan struct{})
			if tt.revoke { // revoked while it reads
				lr.beforeRead = func(ctx context.Context) {
					close(reading)
					<-ctx.Done()
				}
			}
			lr.start(tps)
			if tt.revoke {
				<-reading
				lr.stop([]lane.Partition{tps[0], tps[2]}) // lane 0's: the rebuild goes on for lane 1
				lr.mu.Lock()
				left := len(lr.running)
				lr.mu.Unlock()
				if left != 1 {
					t.Fatal("a rebuild with a lane left was cancelled")
				}
				lr.stop([]lane.Partition{tps[1], tps[3]})
			}
			waitFor(t, func() bool { return lr.rebuilding() == 0 }, "the rebuild ended")
			if got := fake.replayed(); !maps.Equal(got, tt.want) {
				t.Errorf("replayed %v, want %v", got, tt.want)
			}
			if f := lr.figures(); f.Failed != int64(b2i(!tt.revoke)) {
				t.Errorf("failed rebuilds: %d", f.Failed)
			}
		})
	}
}

// TestLabelStateFollowsRebalance: member A scores 60 events alone; B
// joins and takes a partition. Each member rebuilds the label state of
// the partition it holds from A's predictions: it keeps exactly the
// predictions of its partition, and the labels sent after the rebalance
// all join, at the member that holds their partition.
func TestLabelStateFollowsRebalance(t *testing.T) {
	addrs := testkafka.Cluster(t, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "labels", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: 3}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	cfg := loadConfig(t, map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": "json", "MODEL_PATH": fraudModel, "LABELS_TOPIC": "labels",
		"BATCH_INTERVAL": "20ms", "COMMIT_INTERVAL": "50ms", "SHUTDOWN_TIMEOUT": "10s"})
	want := map[string]sent{}
	produceEvents(t, addrs, schemas.JSON, schemas.Transaction, "transactions", 0, 60, want)
	a, stopA := runFor(t, cfg)
	defer func() { _ = stopA() }()
	preds := testkafka.ReadN(t, addrs, "predictions", 60, 30*time.Second)
	waitFor(t, func() bool { return a.watch.quality.Snapshot(time.Now()).Counts.Kept == 60 }, "A keeps every prediction")
	perPartition := map[int32]int{}
	dec, _ := schemas.NewPredictionDecoder(schemas.JSON)
	for _, r := range preds {
		pr, err := dec.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		perPartition[pr.Source.Partition]++
	}
	b, stopB := runFor(t, cfg)
	defer func() { _ = stopB() }()
	waitFor(t, func() bool { return a.runner.assigned() == 2 && b.runner.assigned() == 2 }, "a partition of each topic at each member")
	owner := func(p int32) *Pipeline {
		if a.runner.owns(lane.Partition{Topic: "transactions", Partition: p}) {
			return a
		}
		return b
	}
	if owner(0) == owner(1) {
		t.Fatal("one member holds both partitions")
	}
	for _, m := range []*Pipeline{a, b} {
		p := int32(0)
		if owner(1) == m {
			p = 1
		}
		waitFor(t, func() bool {
			return labelRebuilds(m).Rebuilding == 0 && m.watch.quality.Snapshot(time.Now()).Counts.Kept == perPartition[p]
		}, fmt.Sprintf("the member holding partition %d keeps its %d predictions", p, perPartition[p]))
	}
	var recs []*kgo.Record
	for id, s := range want {
		recs = append(recs, &kgo.Record{Topic: "labels", Key: []byte(s.entity), Value: fmt.Appendf(nil, `{"event_id":%q,"label":1}`, id)})
	}
	testkafka.Produce(t, addrs, recs...)
	joined := func(m *Pipeline) uint64 { return m.watch.quality.Snapshot(time.Now()).Counts.Labels[quality.Joined] }
	waitFor(t, func() bool { return joined(a)+joined(b) == 60 }, "every label joined")
	for _, m := range []*Pipeline{a, b} {
		if c := m.watch.quality.Snapshot(time.Now()).Counts; c.Pending != 0 || c.Labels[quality.Unknown] != 0 || c.Labels[quality.Duplicate] != 0 {
			t.Errorf("counts: %+v", c)
		}
	}
}

// labelRebuilds are the label rebuilds' figures (zero without them).
func labelRebuilds(p *Pipeline) metrics.LabelRebuildFigures {
	var lr *labelRebuilder
	switch r := p.runner.(type) {
	case *atLeastOnce:
		lr = r.lrb
	case *exactlyOnce:
		lr = r.lrb
	}
	if lr == nil {
		return metrics.LabelRebuildFigures{}
	}
	return lr.figures()
}

// TestTrimOps: a lane's replay keeps its newest max predictions and the
// labels from the oldest of them on, in time order, against a direct
// selection.
func TestTrimOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct{ n, max int }{{0, 3}, {5, 10}, {10, 10}, {30, 10}, {200, 1}, {1000, 64}} {
		var o []quality.Op
		for i := 0; i < tt.n; i++ {
			o = append(o, quality.Op{ID: quality.ID{uint64(i), 0}, At: rng.Int64N(100), IsLabel: rng.IntN(3) == 0})
		}
		sorted := slices.Clone(o)
		sortOps(sorted)
		var preds []int64 // the predictions' times, newest first
		for i := len(sorted) - 1; i >= 0; i-- {
			if !sorted[i].IsLabel {
				preds = append(preds, sorted[i].At)
			}
		}
		want := sorted
		wantDropped := 0
		if len(preds) >= tt.max {
			// from the max-th newest prediction on (in sorted order)
			seen := 0
			for i := len(sorted) - 1; i >= 0; i-- {
				if !sorted[i].IsLabel {
					if seen++; seen == tt.max {
						want = sorted[i:]
						break
					}
				}
			}
			wantDropped = len(preds) - tt.max
		}
		got, dropped := trimOps(o, tt.max)
		if !slices.Equal(got, want) || dropped != wantDropped {
			t.Errorf("n %d max %d: kept %d ops (dropped %d predictions), want %d (%d)", tt.n, tt.max, len(got), dropped, len(want), wantDropped)
		}
	}
}
