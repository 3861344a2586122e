package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/quality"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Label state is rebuilt on assignment, as entity state is, from the
// topics themselves (LABEL_REBUILD, default on). When partitions are
// assigned, their lanes are told (lane.Set.StartLabelRebuild, from the
// assignment callback, before any of their records is polled) and keep
// scoring; the predictions and labels they see meanwhile wait (at most
// LABEL_MAX_PREDICTIONS per lane). A goroutine reads back, for every newly
// assigned partition number p at once:
//
//   - the predictions made for input partition p in the last
//     LABEL_WINDOW: every partition of every output topic (OUTPUT_TOPIC,
//     the routes' own and their challengers' topics, which may be
//     partitioned differently from the inputs) from the offset for
//     now − LABEL_WINDOW up to its end when the rebuild started, keeping
//     those whose source is partition p of an input topic below the
//     group's committed offset there (a later input record is scored again
//     live) and whose model is a binary classifier loaded now (as the
//     lanes keep only those);
//   - the labels of partition p of LABELS_TOPIC from the offset for
//     now − LABEL_WINDOW up to the group's committed offset (the later ones
//     arrive live), so that a prediction whose label came before the
//     assignment is joined again, not counted as waiting.
//
// Each lane gets its ops in time order (lane.Set.ReplayLabels): it applies
// them before what waited, and zeroes its store's counters, since the
// replayed records were counted when they were first read. A rebuild that
// fails, or runs past LABEL_REBUILD_TIMEOUT, replays what it read (logged
// and counted): scoring never waits for it, and /readyz does not either.

// errLabelRebuildRevoked and errLabelRebuildTimeout are why a rebuild's
// context ended.
var (
	errLabelRebuildRevoked = errors.New("the partitions were revoked")
	errLabelRebuildTimeout = errors.New("LABEL_REBUILD_TIMEOUT reached")
)

// labelPositionsWait bounds how long the assignment callback waits for the
// committed offsets of the partitions it rebuilds the label state of.
const labelPositionsWait = 5 * time.Second

// labelLanes are what the label rebuild needs of a lane set.
type labelLanes interface {
	StartLabelRebuild(partitions []int32, id uint64) error
	ReplayLabels(p int32, id uint64, ops []quality.Op) error
}

// labelRebuilder runs the label-state rebuilds of one pipeline.
type labelRebuilder struct {
	p             *Pipeline
	lanes         labelLanes
	conn          []kgo.Opt
	readCommitted bool // exactly-once: read what was committed
	group         string
	latest        bool
	labels        string // LABELS_TOPIC
	inputs        map[string]bool
	outputs       []string
	window        time.Duration
	timeout       time.Duration
	maxKept       int                       // LABEL_MAX_PREDICTIONS: a lane's store keeps no more
	enc           schemas.Encoding          // OUTPUT_ENCODING
	preds         schemas.PredictionDecoder // avro-confluent's; the others' are read by a key decoder per rebuild
	labelDec      schemas.LabelDecoder
	reg           *quality.Registry

	// beforeRead, if set, runs in the rebuild's goroutine before it reads
	// (tests: a revoke that comes while a rebuild reads)
	beforeRead func(ctx context.Context)

	nextID  atomic.Uint64
	mu      sync.Mutex
	running map[uint64]*labelRun

	active, predictions, labelsRead, failed, took atomic.Int64
}

// labelRun is one rebuild in progress: the partitions not revoked since.
type labelRun struct {
	cancel context.CancelCauseFunc
	left   map[int32]bool
}

// newLabelRebuilder returns the label rebuilder of p's lanes, or nil
// without LABELS_TOPIC or with LABEL_REBUILD=false.
func newLabelRebuilder(p *Pipeline, lanes labelLanes, readCommitted bool) (*labelRebuilder, error) {
	cfg := p.cfg
	if cfg.LabelsTopic == "" || !cfg.LabelRebuild {
		return nil, nil
	}
	enc, err := schemas.ParseEncoding(cfg.OutputEncoding)
	if err != nil {
		return nil, err
	}
	var preds schemas.PredictionDecoder // avro-confluent: the writers' schemas are the registry's (the client the codecs share)
	if enc == schemas.AvroConfluent {
		preds = schemas.NewConfluentPredictionDecoder(p.registry)
	} else if _, err = schemas.NewPredictionKeyDecoder(enc); err != nil {
		return nil, fmt.Errorf("OUTPUT_ENCODING=%q: %w", cfg.OutputEncoding, err)
	}
	lenc, err := schemas.ParseEncoding(cfg.LabelEncoding)
	if err != nil {
		return nil, err
	}
	labelDec, err := schemas.NewLabelDecoder(lenc)
	if err != nil {
		return nil, fmt.Errorf("LABEL_ENCODING=%q: %w", cfg.LabelEncoding, err)
	}
	lr := &labelRebuilder{p: p, lanes: lanes, conn: p.rebuildConn, readCommitted: readCommitted, group: cfg.GroupID,
		latest: cfg.StartOffset == "latest", labels: cfg.LabelsTopic, inputs: map[string]bool{},
		outputs: OutputTopics(cfg, p.models), window: cfg.LabelWindow, timeout: cfg.LabelRebuildTimeout, maxKept: cfg.LabelMaxPredictions,
		enc: enc, preds: preds, labelDec: labelDec, reg: p.watch.quality, running: map[uint64]*labelRun{}}
	for _, t := range cfg.Topics() {
		lr.inputs[t] = true
	}
	p.watchLabelRebuild(lr.figures)
	return lr, nil
}

func (lr *labelRebuilder) figures() metrics.LabelRebuildFigures {
	return metrics.LabelRebuildFigures{Rebuilding: lr.active.Load(), Predictions: lr.predictions.Load(), Labels: lr.labelsRead.Load(),
		Failed: lr.failed.Load(), Dropped: lr.p.watch.dropped.Load(), Seconds: time.Duration(lr.took.Load()).Seconds()}
}

// start begins rebuilding the label state of the lanes of newly assigned
// partitions (inputs and labels): call it from the assignment callback.
// A nil rebuilder does nothing.
func (lr *labelRebuilder) start(tps []lane.Partition) {
	if lr == nil || len(tps) == 0 {
		return
	}
	var parts []int32
	for _, tp := range tps {
		if !slices.Contains(parts, tp.Partition) {
			parts = append(parts, tp.Partition)
		}
	}
	slices.Sort(parts)
	id := lr.nextID.Add(1)
	if err := lr.lanes.StartLabelRebuild(parts, id); err != nil {
		lr.p.log.Error("cannot rebuild the label state", "err", err)
		return
	}
	// The committed offsets now, before anything of the partitions is
	// polled (so before anything more of them is committed): the live
	// records start there, and the replay ends there. A member that cannot
	// ask now asks again from the rebuild's goroutine.
	cl, err := kgo.NewClient(lr.conn...)
	if err != nil {
		lr.p.log.Error("cannot rebuild the label state", "err", err)
		_ = lr.replayAll(parts, id, nil)
		return
	}
	own := lr.lanePartitions(tps, parts)
	pctx, pcancel := context.WithTimeout(context.Background(), labelPositionsWait)
	positions, _, perr := groupPositions(pctx, kadm.NewClient(cl), lr.group, lr.latest, own)
	pcancel()
	if perr != nil {
		lr.p.log.Warn("label state rebuild: the committed offsets did not come at assignment; asking again", "err", perr)
		positions = nil
	}
	base, cancel := context.WithCancelCause(context.Background())
	ctx, stopTimer := context.WithTimeoutCause(base, lr.timeout, errLabelRebuildTimeout)
	run := &labelRun{cancel: cancel, left: map[int32]bool{}}
	for _, p := range parts {
		run.left[p] = true
	}
	lr.mu.Lock()
	lr.running[id] = run
	lr.mu.Unlock()
	lr.active.Add(1)
	go func() {
		defer lr.active.Add(-1)
		defer cancel(nil)
		defer stopTimer()
		defer cl.Close()
		began := time.Now()
		if lr.beforeRead != nil {
			lr.beforeRead(ctx)
		}
		ops, st, err := lr.read(ctx, cl, own, positions, parts)
		elapsed := time.Since(began)
		lr.took.Add(int64(elapsed))
		lr.mu.Lock()
		delete(lr.running, id)
		lr.mu.Unlock()
		if cause := context.Cause(ctx); ctx.Err() != nil && errors.Is(cause, errLabelRebuildRevoked) {
			return // the lanes forgot the rebuild with the partitions
		}
		// the lanes apply what waited only once they have their replay:
		// every one gets it, whatever went wrong
		_ = lr.replayAll(parts, id, ops)
		lr.predictions.Add(st.predictions)
		lr.labelsRead.Add(st.labels)
		rate := 0.0
		if s := elapsed.Seconds(); s > 0 {
			rate = float64(st.records) / s
		}
		args := []any{"partitions", parts, "predictions", st.predictions, "labels", st.labels, "records_read", st.records,
			"predictions_beyond_label_max_predictions", st.trimmed,
			"elapsed", elapsed.Round(time.Millisecond), "records_per_second", int64(rate)}
		if err != nil {
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			lr.failed.Add(1)
			lr.p.log.Error("label state rebuild incomplete; what was read is replayed, and labels of the predictions not read back end unknown",
				append(args, "err", err)...)
			return
		}
		lr.p.log.Info("label state rebuilt", args...)
	}()
}

// replayAll hands every lane of parts its ops of rebuild id (none: an
// empty replay, which ends the lane's wait).
func (lr *labelRebuilder) replayAll(parts []int32, id uint64, ops map[int32][]quality.Op) error {
	var first error
	for _, p := range parts {
		if err := lr.lanes.ReplayLabels(p, id, ops[p]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// lanePartitions are the partitions of the lanes parts: of every input
// topic, and those of the labels among tps (the labels topic may have
// fewer partitions than the inputs).
func (lr *labelRebuilder) lanePartitions(tps []lane.Partition, parts []int32) []lane.Partition {
	var own []lane.Partition
	for t := range lr.inputs {
		for _, p := range parts {
			own = append(own, lane.Partition{Topic: t, Partition: p})
		}
	}
	for _, tp := range tps {
		if tp.Topic == lr.labels {
			own = append(own, tp)
		}
	}
	return own
}

// stop forgets revoked or lost partitions; a rebuild none of whose
// partitions is left is cancelled. A nil rebuilder does nothing.
func (lr *labelRebuilder) stop(tps []lane.Partition) {
	if lr == nil {
		return
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	for id, run := range lr.running {
		for _, tp := range tps {
			delete(run.left, tp.Partition)
		}
		if len(run.left) == 0 {
			run.cancel(errLabelRebuildRevoked)
			delete(lr.running, id)
		}
	}
}

// rebuilding reports the label rebuilds in progress.
func (lr *labelRebuilder) rebuilding() int64 {
	if lr == nil {
		return 0
	}
	return lr.active.Load()
}

type labelReadStats struct{ predictions, labels, records, trimmed int64 }

func sortOps(o []quality.Op) {
	slices.SortStableFunc(o, func(a, b quality.Op) int {
		if c := cmp.Compare(a.At, b.At); c != 0 {
			return c
		}
		return cmp.Compare(b2i(a.IsLabel), b2i(b.IsLabel)) // a prediction before a label of the same millisecond
	})
}

// trimOps keeps the newest max predictions of a lane's ops and the labels
// from the oldest of them on (the lane's store, which keeps at most
// LABEL_MAX_PREDICTIONS, would evict the others on replay), and reports
// how many predictions it dropped. It bounds what a rebuild holds to about
// twice LABEL_MAX_PREDICTIONS ops per lane, whatever LABEL_WINDOW holds.
func trimOps(o []quality.Op, max int) ([]quality.Op, int) {
	sortOps(o)
	n, cut := 0, 0
	for i := len(o) - 1; i >= 0; i-- {
		if !o[i].IsLabel {
			if n++; n == max {
				cut = i
				break
			}
		}
	}
	if n < max {
		return o, 0
	}
	dropped := 0
	for _, op := range o[:cut] {
		if !op.IsLabel {
			dropped++
		}
	}
	k := copy(o, o[cut:])
	clear(o[k:])
	return o[:k], dropped
}

// read reads back the predictions and labels of the lanes parts (own are
// their partitions, positions the group's committed offsets of them, nil:
// not known yet) with cl, and returns each lane's ops in time order. On an
// error it returns what it read so far with it.
func (lr *labelRebuilder) read(ctx context.Context, cl *kgo.Client, own []lane.Partition, positions map[lane.Partition]int64,
	parts []int32) (ops map[int32][]quality.Op, st labelReadStats, err error) {
	ops = map[int32][]quality.Op{}
	kept := map[int32]int{} // predictions per lane in ops
	// whatever returns: the ops read so far, in time order
	defer func() {
		for p, o := range ops {
			sortOps(o)
			st.predictions += int64(kept[p])
		}
	}()
	adm := kadm.NewClient(cl)
	if positions == nil {
		pctx := ctx
		if lr.readCommitted {
			pctx = kadm.RequireStable(ctx) // wait out a transaction that holds the group's offsets
		}
		var perr error
		if positions, _, perr = groupPositions(pctx, adm, lr.group, lr.latest, own); perr != nil {
			return ops, st, perr
		}
	}
	from := time.Now().Add(-lr.window)
	ranges := map[lane.Partition]offsetRange{}
	// predictions: every partition of every output topic, up to its end now
	var ends kadm.ListedOffsets
	if lr.readCommitted {
		ends, err = adm.ListCommittedOffsets(ctx, lr.outputs...) // the last stable offsets
	} else {
		ends, err = adm.ListEndOffsets(ctx, lr.outputs...)
	}
	if err != nil {
		return ops, st, fmt.Errorf("end offsets of %v: %w", lr.outputs, err)
	}
	if err := ends.Error(); err != nil {
		return ops, st, fmt.Errorf("end offsets of %v: %w", lr.outputs, err)
	}
	starts, err := adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), lr.outputs...)
	if err != nil {
		return ops, st, fmt.Errorf("offsets of %v for %s: %w", lr.outputs, from.Format(time.RFC3339), err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		s, ok := starts.Lookup(o.Topic, o.Partition)
		if ok && s.Err == nil && s.Offset >= 0 && s.Offset < o.Offset {
			ranges[lane.Partition{Topic: o.Topic, Partition: o.Partition}] = offsetRange{s.Offset, o.Offset}
		}
	})
	// labels: from the window's start up to the committed offset
	lstarts, err := adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), lr.labels)
	if err != nil {
		return ops, st, fmt.Errorf("offsets of %s for %s: %w", lr.labels, from.Format(time.RFC3339), err)
	}
	for _, tp := range own {
		if tp.Topic != lr.labels {
			continue
		}
		end, ok := positions[tp]
		s, found := lstarts.Lookup(tp.Topic, tp.Partition)
		if ok && found && s.Err == nil && s.Offset >= 0 && s.Offset < end {
			ranges[tp] = offsetRange{s.Offset, end}
		}
	}
	want := map[int32]bool{}
	for _, p := range parts {
		want[p] = true
	}
	binary := lr.binaryModels()
	strs := map[string]string{} // model names and versions, shared by the ops
	intern := func(b []byte) string {
		if v, ok := strs[string(b)]; ok {
			return v
		}
		s := string(b)
		strs[s] = s
		return s
	}
	var key schemas.PredictionKey
	decode, err := lr.keyDecoder()
	if err != nil {
		return ops, st, err
	}
	var label schemas.Label
	err = readRanges(ctx, lr.conn, lr.readCommitted, ranges, func(tp lane.Partition, recs []*kgo.Record) {
		st.records += int64(len(recs))
		if tp.Topic == lr.labels {
			for _, r := range recs {
				if lr.labelDec.DecodeLabel(r.Value, &label) != nil {
					continue // counted as malformed when it was first read
				}
				ops[tp.Partition] = append(ops[tp.Partition], quality.Op{ID: lr.reg.ID(label.EventID), At: r.Timestamp.UnixMilli(),
					IsLabel: true, Label: label.Label})
				st.labels++
			}
			return
		}
		for _, r := range recs {
			if err := decode(r.Value, &key); err != nil {
				continue // not a prediction (the topic may be shared)
			}
			p := key.SourcePartition
			src := lane.Partition{Topic: string(key.SourceTopic), Partition: p} // no allocation: a map key
			pos, ok := positions[src]
			if !ok || !want[p] || !lr.inputs[src.Topic] || key.SourceOffset >= pos || !binary[string(key.ModelName)] {
				continue // another lane's, not an input's, scored again live, or not kept by the lanes
			}
			ops[p] = append(ops[p], quality.Op{ID: lr.reg.ID(string(key.EventID)), At: key.ScoredAt,
				Model: intern(key.ModelName), Version: intern(key.ModelVersion), Score: key.Score})
			if kept[p]++; lr.maxKept > 0 && kept[p] > 2*lr.maxKept {
				var dropped int
				ops[p], dropped = trimOps(ops[p], lr.maxKept)
				kept[p] -= dropped
				st.trimmed += int64(dropped)
			}
		}
	})
	return ops, st, err
}

// keyDecoder reads what the rebuild needs of a prediction record into a
// key: with the key decoder of the output encoding (for JSON it skips the
// rest and does not allocate; Avro is decoded in full by goavro), or, for
// avro-confluent, the registry-aware full decoder.
func (lr *labelRebuilder) keyDecoder() (func(v []byte, k *schemas.PredictionKey) error, error) {
	if lr.preds == nil {
		kd, err := schemas.NewPredictionKeyDecoder(lr.enc)
		if err != nil {
			return nil, err
		}
		return kd.DecodeKey, nil
	}
	return func(v []byte, k *schemas.PredictionKey) error {
		pr, err := lr.preds.Decode(v)
		if err != nil {
			return err
		}
		*k = schemas.PredictionKey{EventID: []byte(pr.EventID), ModelName: []byte(pr.ModelName), ModelVersion: []byte(pr.ModelVersion),
			Score: pr.Score, ScoredAt: time.Time(pr.ScoredAt).UnixMilli(), SourceTopic: []byte(pr.Source.Topic),
			SourcePartition: pr.Source.Partition, SourceOffset: pr.Source.Offset}
		return nil
	}, nil
}

// binaryModels are the names of the models loaded now (champions and
// challengers) whose predictions the lanes keep for labels: binary
// classifiers with one target.
func (lr *labelRebuilder) binaryModels() map[string]bool {
	out := map[string]bool{}
	for _, r := range lr.p.models.Routes() {
		for _, s := range []*scoring.Scorer{r.Scorer(), r.Shadow()} {
			if s != nil {
				info := s.Info()
				out[info.Name] = info.Output == scoring.Binary && !info.MultiTarget()
			}
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
