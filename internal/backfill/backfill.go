package backfill

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/kafkaconn"
	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/internal/pipeline"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
)

// Errors callers branch on.
var (
	ErrRange       = errors.New("--from must be before --to")
	ErrInterrupted = errors.New("backfill interrupted")
)

// Options configure a run.
type Options struct {
	Config      config.Config // the run environment; InputTopics are the topics to replay
	From, To    time.Time
	OutputTopic string // default Config.OutputTopic (ignored with OutputFile)
	OutputFile  string // .jsonl or .csv; dead letters go to <file>.rejects
	// WithFeatures writes each prediction's model inputs (the exact values
	// the model saw) beside it: training data from the serving code.
	WithFeatures bool
	MaxRate      float64
	Resume       *State // continue an interrupted run
	Models       *modelset.Set
	Extra        []kgo.Opt // tests
	Progress     io.Writer
	Terminal     bool // draw a progress bar (else log lines)
	Logger       *slog.Logger
	// IdleEnd: a partition that yields nothing for this long is at its end
	// (its last offsets are transaction markers); default 10s.
	IdleEnd time.Duration

	afterSnapshot func()        // test hook: the end offsets are taken
	afterBatch    func(n int64) // test hook: records read so far
}

// Summary counts a run.
type Summary struct {
	Read, InRange, Predictions, DeadLetters int64
	Elapsed                                 time.Duration
	State                                   *State // where the run stands (complete or interrupted)
}

// Run replays the range. It returns ErrInterrupted (with the state to
// resume from in the summary) when ctx ends first.
func Run(ctx context.Context, o Options) (Summary, error) {
	start := time.Now()
	if !o.From.Before(o.To) {
		return Summary{}, fmt.Errorf("%w (from %s, to %s)", ErrRange, o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.IdleEnd <= 0 {
		o.IdleEnd = 10 * time.Second
	}
	cfg := o.Config
	rec, err := recordOutput(o)
	if err != nil {
		return Summary{}, err
	}
	if o.Resume != nil && o.Resume.Output != nil {
		if err := o.Resume.Output.conflict(rec); err != nil {
			return Summary{}, fmt.Errorf("cannot resume: %w", err)
		}
	}
	topics := cfg.Topics()
	conn, err := kafkaconn.ForConfig(cfg, "streamscore-backfill")
	if err != nil {
		return Summary{}, err
	}
	conn = append(conn, o.Extra...)
	admCl, err := kgo.NewClient(conn...)
	if err != nil {
		return Summary{}, err
	}
	defer admCl.Close()
	// With entity aggregates the replay starts the longest window (and
	// ENTITY_REBUILD_SLACK) before --from: those records only warm the
	// entity state, so the range's first events see their history.
	var aggs []scoring.Aggregate
	for _, r := range o.Models.Routes() {
		aggs = append(aggs, r.Scorer().Plan().Aggregates()...)
	}
	var warmFor time.Duration
	if spec := entity.NewSpec(aggs); len(spec.Aggregates()) > 0 {
		warmFor = spec.Longest() + cfg.EntityRebuildSlack
	}
	state := o.Resume
	if state == nil {
		if state, err = snapshot(ctx, kadm.NewClient(admCl), topics, o.From, warmFor, cfg); err != nil {
			return Summary{}, err
		}
		state.To = o.To
	}
	state.Output, state.MaxRate, state.Inputs = rec, o.MaxRate, nil
	inputs, _ := cfg.Inputs()
	for _, in := range inputs {
		state.Inputs = append(state.Inputs, in.Topic+":"+string(in.Type))
	}
	if o.afterSnapshot != nil {
		o.afterSnapshot()
	}
	sum := Summary{State: state}
	outTopic := o.OutputTopic
	if outTopic == "" {
		outTopic = cfg.OutputTopic
	}
	if o.OutputFile != "" && cfg.OutputEncoding == string(schemas.AvroConfluent) {
		cfg.OutputEncoding = string(schemas.JSON) // a file has its own columns; nothing to register
	}
	core, predEnc, err := pipeline.Core(ctx, cfg, o.Models, []string{outTopic})
	if err != nil {
		return sum, err
	}
	out, err := newOutput(o, conn, predEnc)
	if err != nil {
		return sum, err
	}
	defer out.close()
	lanes, err := out.lanes(core, cfg, o.Logger)
	if err != nil {
		return sum, err
	}

	starts := map[string]map[int32]kgo.Offset{}
	remaining := 0
	var assigned []lane.Partition
	for t, ps := range state.Partitions {
		for p, sp := range ps {
			if sp.Next >= sp.End {
				continue
			}
			if starts[t] == nil {
				starts[t] = map[int32]kgo.Offset{}
			}
			from := sp.Next
			if warmFor > 0 && sp.Warm < sp.Next { // history first, into the entity state only
				from = sp.Warm
			}
			starts[t][p] = kgo.NewOffset().At(from)
			sp.read = from
			remaining++
			assigned = append(assigned, lane.Partition{Topic: t, Partition: p})
		}
	}
	if err := lanes.Assign(assigned); err != nil {
		return sum, err
	}
	if warmFor > 0 { // the warm-up replays from here: before it the state holds nothing
		if err := lanes.DropBefore(assigned, o.From.Add(-warmFor)); err != nil {
			return sum, err
		}
	}
	prog := &progress{total: state.Remaining(), start: time.Now(), out: o.Progress, terminal: o.Terminal, log: o.Logger}
	stopProg := make(chan struct{})
	progDone := make(chan struct{})
	go func() { defer close(progDone); prog.run(stopProg) }()
	defer func() { close(stopProg); <-progDone }()
	if remaining == 0 {
		sum.Elapsed = time.Since(start)
		return sum, nil
	}
	cl, err := kgo.NewClient(append(conn, kgo.ConsumePartitions(starts))...)
	if err != nil {
		return sum, err
	}
	defer cl.Close()

	lastData := time.Now()
	interrupted := false
	for remaining > 0 {
		if ctx.Err() == nil {
			_ = out.waitBelow(ctx, cfg.MaxInFlightRecords) // backpressure: the lanes and the producer drain
		}
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollRecords(pollCtx, cfg.BatchMaxSize)
		cancel()
		var fatal error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fatal = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if fatal != nil {
			_ = lanes.Stop(context.Background())
			return sum, fatal
		}
		n := 0
		fs.EachPartition(func(part kgo.FetchTopicPartition) {
			sp := state.Partitions[part.Topic][part.Partition]
			if sp == nil {
				return
			}
			c := lane.Chunk[struct{}]{Topic: part.Topic, Partition: part.Partition, HighWatermark: sp.End}
			warm := lane.Chunk[struct{}]{Topic: part.Topic, Partition: part.Partition}
			for _, r := range part.Records {
				if r.Offset < sp.read || sp.Next >= sp.End {
					continue
				}
				if r.Offset >= sp.End { // appended after the snapshot
					sp.Next = sp.End
					break
				}
				sp.read = r.Offset + 1
				ts := r.Timestamp
				if r.Offset < sp.Next || ts.Before(o.From) { // history: it warms the entity state
					if warmFor > 0 {
						warm.Records = append(warm.Records, r)
					}
					if r.Offset < sp.Next {
						continue
					}
				}
				n++
				sum.Read++
				if !ts.Before(o.From) && ts.Before(o.To) {
					sum.InRange++
					c.Records = append(c.Records, r)
				}
				sp.Next = r.Offset + 1
			}
			if len(warm.Records) > 0 {
				_ = lanes.PushState(warm)
			}
			c.Next = sp.read
			if sp.Next >= sp.End {
				remaining--
				cl.PauseFetchPartitions(map[string][]int32{part.Topic: {part.Partition}})
			}
			if len(c.Records) > 0 || warmFor > 0 {
				c.Refs = make([]struct{}, len(c.Records))
				out.pushed(len(c.Records))
				if err := lanes.Push(c); err != nil && fatal == nil {
					fatal = err
				}
			}
		})
		if fatal != nil {
			_ = lanes.Stop(context.Background())
			return sum, fatal
		}
		if err := out.failed(); err != nil {
			_ = lanes.Stop(context.Background())
			return sum, err
		}
		prog.done.Add(int64(n))
		if o.afterBatch != nil {
			o.afterBatch(sum.Read)
		}
		if n > 0 {
			lastData = time.Now()
		} else if time.Since(lastData) > o.IdleEnd {
			for t, ps := range state.Partitions {
				for p, sp := range ps {
					if sp.Next < sp.End {
						o.Logger.Warn("partition yields nothing before its snapshot end (transaction markers or compaction): treating it as done",
							"topic", t, "partition", p, "next", sp.Next, "end", sp.End)
						sp.Next = sp.End
						remaining--
					}
				}
			}
		}
		if o.MaxRate > 0 { // pace to the rate
			if ahead := time.Duration(float64(sum.Read)/o.MaxRate*float64(time.Second)) - time.Since(start); ahead > 0 {
				select {
				case <-time.After(ahead):
				case <-ctx.Done():
				}
			}
		}
	}
	// The lanes finish every record handed to them (a record that waits
	// for the schema registry is waited for: a backfill has no rebalance
	// to yield to; an interrupt stops the wait, and the state rewinds to
	// what was given up).
	if err := lanes.Finish(ctx); err != nil {
		interrupted = true
	}
	state.rewind(out.abandoned())
	// Everything handed over must be acknowledged (or written) before the
	// state says it is done.
	fctx, cancel := context.WithTimeout(context.Background(), max(cfg.ShutdownTimeout, time.Second))
	defer cancel()
	if err := out.finish(fctx); err != nil {
		return sum, err
	}
	sum.Predictions, sum.DeadLetters = out.predictions.Load(), out.deadLetters.Load()
	sum.Elapsed = time.Since(start)
	if interrupted {
		return sum, ErrInterrupted
	}
	return sum, nil
}

// recordOutput is what the run writes and how, for its resume file.
func recordOutput(o Options) (*Output, error) {
	rec := &Output{WithFeatures: o.WithFeatures}
	var scorers []*scoring.Scorer
	for _, r := range o.Models.Routes() {
		s := r.Scorer()
		scorers = append(scorers, s)
		rec.Models = append(rec.Models, s.Info().Name+" "+s.Info().Version)
	}
	slices.Sort(rec.Models)
	if o.OutputFile == "" {
		rec.Topic, rec.Encoding = o.OutputTopic, o.Config.OutputEncoding
		return rec, nil
	}
	var err error
	if rec.File, err = filepath.Abs(o.OutputFile); err != nil {
		return nil, fmt.Errorf("--output-file %s: %w", o.OutputFile, err)
	}
	if rec.Columns, err = batchscore.FileColumns(scorers, o.WithFeatures); err != nil {
		return nil, fmt.Errorf("--output-file %s: %w", o.OutputFile, err)
	}
	return rec, nil
}

// snapshot takes, per partition, the offset for from and the end offset.
func snapshot(ctx context.Context, adm *kadm.Client, topics []string, from time.Time, warmFor time.Duration, cfg config.Config) (*State, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, kafkaconn.Explain(err, cfg)
	}
	for _, t := range topics {
		if d, ok := details[t]; !ok || d.Err != nil {
			return nil, fmt.Errorf("topic %q does not exist", t)
		}
	}
	startOffsets, err := adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), topics...)
	if err != nil {
		return nil, fmt.Errorf("list offsets for --from: %w", err)
	}
	warmOffsets := startOffsets
	if warmFor > 0 {
		if warmOffsets, err = adm.ListOffsetsAfterMilli(ctx, from.Add(-warmFor).UnixMilli(), topics...); err != nil {
			return nil, fmt.Errorf("list offsets for the entity state's warm-up: %w", err)
		}
	}
	endOffsets, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	st := &State{From: from, Topics: topics, Partitions: map[string]map[int32]*Span{}}
	var ferr error
	endOffsets.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			ferr = fmt.Errorf("%s[%d]: end offset: %w", e.Topic, e.Partition, e.Err)
			return
		}
		s, ok := startOffsets.Lookup(e.Topic, e.Partition)
		if !ok || s.Err != nil {
			ferr = fmt.Errorf("%s[%d]: offset for --from: %v", e.Topic, e.Partition, s.Err)
			return
		}
		if st.Partitions[e.Topic] == nil {
			st.Partitions[e.Topic] = map[int32]*Span{}
		}
		next := s.Offset
		if next < 0 || next > e.Offset { // nothing at or after from
			next = e.Offset
		}
		warm := next
		if w, ok := warmOffsets.Lookup(e.Topic, e.Partition); ok && w.Err == nil && w.Offset >= 0 && w.Offset < next {
			warm = w.Offset
		}
		st.Partitions[e.Topic][e.Partition] = &Span{Warm: warm, Next: next, End: e.Offset}
	})
	return st, ferr
}

// output is where scored records go: a topic (via the producer) or a file.
// It counts the records handed to the lanes and not yet settled, for
// backpressure and for the end of the run.
type output struct {
	o           Options
	prod        *producer.Producer
	file        *batchscore.FileWriter
	fileMu      sync.Mutex // the file is one stream: lanes write their rows under it
	fileErr     error
	topic       string // --output-topic, overriding every route's own
	predictions atomic.Int64
	deadLetters atomic.Int64

	inFlight atomic.Int64 // pushed to a lane, not yet written or acknowledged
	settled  chan struct{}

	abandonMu sync.Mutex
	abandon   map[lane.Partition]int64 // lowest offset given up per partition
}

func newOutput(o Options, conn []kgo.Opt, enc schemas.PredictionEncoder) (*output, error) {
	out := &output{o: o, topic: o.OutputTopic, settled: make(chan struct{}, 1), abandon: map[lane.Partition]int64{}}
	if o.OutputFile != "" {
		var scorers []*scoring.Scorer
		for _, r := range o.Models.Routes() {
			scorers = append(scorers, r.Scorer())
		}
		f, err := batchscore.CreateFile(o.OutputFile, scorers, o.WithFeatures, o.Resume != nil)
		if err != nil {
			return nil, fmt.Errorf("--output-file %s: %w", o.OutputFile, err)
		}
		if err := f.CheckHeader(sourceColumns()); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot resume: %w", err)
		}
		out.file = f
		return out, nil
	}
	cfg := o.Config
	encOut, _ := schemas.ParseEncoding(cfg.OutputEncoding)
	p, err := producer.New(producer.Options{Conn: conn, Compression: cfg.Compression, Encoding: encOut, Encoder: enc,
		Topic: cmp.Or(out.topic, cfg.OutputTopic), DLQTopic: cfg.DLQTopic, MaxBufferedRecords: cfg.MaxInFlightRecords, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(p.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := []string{cmp.Or(out.topic, cfg.OutputTopic), cfg.DLQTopic}
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("cannot reach the Kafka brokers: %w", err)
	}
	for _, t := range topics {
		if d, ok := details[t]; !ok || d.Err != nil {
			p.Close()
			return nil, fmt.Errorf("output topic %q does not exist", t)
		}
	}
	if err := p.Limits().Load(ctx, p.Client(), topics...); err != nil {
		o.Logger.Warn("cannot read max.message.bytes of the output topics; batches are capped at the default", "err", err)
	}
	out.prod = p
	return out, nil
}

// lanes starts the lanes that score into this output.
func (out *output) lanes(core *outcome.Core, cfg config.Config, log *slog.Logger) (*lane.Set[struct{}], error) {
	// Every record of the range is there to be read: the event-time merge
	// waits for a partition that is behind (up to 30 s, a stalled fetch),
	// so that the backfill scores in the order the live stream did.
	lc := lane.Config{Core: core, MaxSize: cfg.BatchMaxSize, Interval: cfg.BatchInterval, Log: log,
		MaxIdle: 30 * time.Second, State: entity.Options{MaxBytes: cfg.EntityStateMaxBytes, Slack: cfg.EntityRebuildSlack},
		Features: out.o.WithFeatures,
		Hooks: lane.Hooks{Unavailable: func(err error) {
			log.Warn("waiting for the schema registry; the record is not dead-lettered", "err", err)
		}}}
	return lane.NewSet(lc, func(int32) lane.Sink[struct{}] {
		if out.file != nil {
			return &fileSink{out: out}
		}
		k := &topicSink{out: out}
		k.s = producer.NewSender(out.prod, func(_ struct{}, res producer.Result) {
			if res == producer.Predicted {
				out.predictions.Add(1)
			} else {
				out.deadLetters.Add(1)
			}
			out.done()
		})
		return k
	})
}

// pushed counts records handed to a lane.
func (out *output) pushed(n int) { out.inFlight.Add(int64(n)) }

// done settles one record.
func (out *output) done() {
	out.inFlight.Add(-1)
	select {
	case out.settled <- struct{}{}:
	default:
	}
}

// waitBelow blocks while n or more records are in flight, or until ctx
// ends.
func (out *output) waitBelow(ctx context.Context, n int) error {
	for out.inFlight.Load() >= int64(n) {
		select {
		case <-out.settled:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// failed is the first error writing the file, if any.
func (out *output) failed() error {
	if out.file == nil {
		return nil
	}
	out.fileMu.Lock()
	defer out.fileMu.Unlock()
	return out.fileErr
}

// abandoned is the lowest offset given up per partition (records that
// waited for the schema registry when the run was interrupted).
func (out *output) abandoned() map[lane.Partition]int64 {
	out.abandonMu.Lock()
	defer out.abandonMu.Unlock()
	return maps.Clone(out.abandon)
}

func (out *output) finish(ctx context.Context) error {
	if err := out.waitBelow(ctx, 1); err != nil {
		return fmt.Errorf("waiting for the broker to acknowledge %d outputs: %w", out.inFlight.Load(), err)
	}
	if out.file != nil {
		out.fileMu.Lock()
		defer out.fileMu.Unlock()
		if out.fileErr != nil {
			return out.fileErr
		}
		return out.file.Flush()
	}
	return nil
}

func (out *output) close() {
	if out.file != nil {
		out.file.Close()
	}
	if out.prod != nil {
		out.prod.Close()
	}
}

func (out *output) giveUp(rec *kgo.Record) {
	out.abandonMu.Lock()
	k := lane.Partition{Topic: rec.Topic, Partition: rec.Partition}
	if off, ok := out.abandon[k]; !ok || rec.Offset < off {
		out.abandon[k] = rec.Offset
	}
	out.abandonMu.Unlock()
	out.done()
}

// topicSink produces a lane's outcomes to the output topic.
type topicSink struct {
	out *output
	s   *producer.Sender[struct{}]
}

func (k *topicSink) Prediction(it *lane.Item[struct{}], pred *schemas.Prediction, topic string) {
	k.s.Prediction(pred, it.Kafka, cmp.Or(k.out.topic, topic), struct{}{})
}

func (k *topicSink) DeadLetter(it *lane.Item[struct{}], stage string, err error) {
	k.s.DeadLetter(it.Kafka, stage, err, struct{}{})
}

func (k *topicSink) Abandon(rec *kgo.Record, _ struct{}) { k.out.giveUp(rec) }

// fileSink writes a lane's outcomes as rows of the output file (the
// columns of streamscore score, with --with-features its model inputs
// too), dead letters to its rejects file.
type fileSink struct{ out *output }

func (k *fileSink) Prediction(it *lane.Item[struct{}], pred *schemas.Prediction, _ string) {
	cells := sourceCells(it.Kafka, &it.Event)
	k.write(func(f *batchscore.FileWriter) error {
		return f.Write(cells, it.Scorer, &it.Result, it.Features, schemas.FormatTime(time.Time(pred.ScoredAt)))
	})
	k.out.predictions.Add(1)
}

func (k *fileSink) DeadLetter(it *lane.Item[struct{}], stage string, err error) {
	var ev *schemas.Event
	if stage != producer.StageDecode {
		ev = &it.Event
	}
	k.write(func(f *batchscore.FileWriter) error {
		return f.Reject(int(it.Kafka.Offset), stage+": "+err.Error(), sourceCells(it.Kafka, ev))
	})
	k.out.deadLetters.Add(1)
}

func (k *fileSink) Abandon(rec *kgo.Record, _ struct{}) { k.out.giveUp(rec) }

func (k *fileSink) write(fn func(*batchscore.FileWriter) error) {
	k.out.fileMu.Lock()
	if k.out.fileErr == nil {
		k.out.fileErr = fn(k.out.file)
	}
	k.out.fileMu.Unlock()
	k.out.done()
}

// sourceColumns are the names of a prediction's sourceCells: the first
// columns of a file's header.
func sourceColumns() []string {
	var names []string
	for _, c := range sourceCells(&kgo.Record{}, &schemas.Event{}) {
		names = append(names, c.Name)
	}
	return names
}

func sourceCells(r *kgo.Record, ev *schemas.Event) []batchscore.Cell {
	cells := []batchscore.Cell{}
	if ev != nil {
		cells = append(cells, batchscore.Cell{Name: "event_id", Text: ev.ID}, batchscore.Cell{Name: "entity_id", Text: ev.Entity},
			batchscore.Cell{Name: "event_type", Text: string(ev.Type)}, batchscore.Cell{Name: "event_time", Text: schemas.FormatTime(ev.Time)})
	}
	return append(cells, batchscore.Cell{Name: "source_topic", Text: r.Topic},
		batchscore.Cell{Name: "source_partition", Text: strconv.Itoa(int(r.Partition))},
		batchscore.Cell{Name: "source_offset", Text: strconv.FormatInt(r.Offset, 10)})
}
