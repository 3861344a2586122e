// Package backfill replays input topics over a time range through the
// same decode, features, models, policy and encoding as `streamscore run`
// (Spark's availableNow, for Kafka): per partition it starts at the offset
// for --from, reads up to the end offset snapshotted at start, and keeps
// the records whose Kafka timestamp falls in [from, to) (producer
// timestamps need not be ordered, so the offset for --to bounds nothing).
// Output goes to a topic or to a file with the columns of `streamscore
// score`; no consumer group, nothing committed. An interrupted run writes a
// resume file from which the rest is scored exactly once.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/batchscore"
	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/kafkaconn"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/pipeline"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
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
	MaxRate     float64
	Resume      *State // continue an interrupted run
	Models      *modelset.Set
	Extra       []kgo.Opt // tests
	Progress    io.Writer
	Terminal    bool // draw a progress bar (else log lines)
	Logger      *slog.Logger
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
	state := o.Resume
	if state == nil {
		if state, err = snapshot(ctx, kadm.NewClient(admCl), topics, o.From, cfg); err != nil {
			return Summary{}, err
		}
		state.To = o.To
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
	decoders, predEnc, err := pipeline.Codecs(ctx, cfg, []string{outTopic})
	if err != nil {
		return sum, err
	}
	out, err := newOutput(o, conn, predEnc)
	if err != nil {
		return sum, err
	}
	defer out.close()

	starts := map[string]map[int32]kgo.Offset{}
	remaining := 0
	for t, ps := range state.Partitions {
		for p, sp := range ps {
			if sp.Next >= sp.End {
				continue
			}
			if starts[t] == nil {
				starts[t] = map[int32]kgo.Offset{}
			}
			starts[t][p] = kgo.NewOffset().At(sp.Next)
			remaining++
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

	b := &batcher{o: o, out: out, decoders: decoders, sum: &sum}
	lastData := time.Now()
	interrupted := false
	for remaining > 0 {
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
			return sum, fatal
		}
		b.reset()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			sp := state.Partitions[r.Topic][r.Partition]
			if sp == nil || r.Offset < sp.Next || sp.Next >= sp.End {
				return
			}
			if r.Offset >= sp.End { // appended after the snapshot
				sp.Next = sp.End
				remaining--
				cl.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
				return
			}
			n++
			sum.Read++
			ts := r.Timestamp
			if !ts.Before(o.From) && ts.Before(o.To) {
				sum.InRange++
				b.add(r)
			}
			sp.Next = r.Offset + 1
			if sp.Next >= sp.End {
				remaining--
				cl.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
			}
		})
		if err := b.flush(); err != nil {
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

// snapshot takes, per partition, the offset for from and the end offset.
func snapshot(ctx context.Context, adm *kadm.Client, topics []string, from time.Time, cfg config.Config) (*State, error) {
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
		st.Partitions[e.Topic][e.Partition] = &Span{Next: next, End: e.Offset}
	})
	return st, ferr
}

// output is where scored records go: a topic (via the producer) or a file.
type output struct {
	prod        *producer.Producer
	file        *batchscore.FileWriter
	topic       string
	predictions atomic.Int64
	deadLetters atomic.Int64
	failed      atomic.Int64
}

func newOutput(o Options, conn []kgo.Opt, enc schemas.PredictionEncoder) (*output, error) {
	out := &output{topic: o.OutputTopic}
	if o.OutputFile != "" {
		info := o.Models.Routes()[0].Scorer().Info()
		f, err := batchscore.CreateFile(o.OutputFile, info, o.Resume != nil)
		if err != nil {
			return nil, fmt.Errorf("--output-file %s: %w", o.OutputFile, err)
		}
		out.file = f
		return out, nil
	}
	cfg := o.Config
	if out.topic == "" {
		out.topic = cfg.OutputTopic
	}
	encOut, _ := schemas.ParseEncoding(cfg.OutputEncoding)
	p, err := producer.New(producer.Options{Conn: conn, Compression: cfg.Compression, Encoding: encOut, Encoder: enc,
		Topic: out.topic, DLQTopic: cfg.DLQTopic, MaxBufferedRecords: cfg.MaxInFlightRecords, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(p.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx, out.topic, cfg.DLQTopic)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("cannot reach the Kafka brokers: %w", err)
	}
	for _, t := range []string{out.topic, cfg.DLQTopic} {
		if d, ok := details[t]; !ok || d.Err != nil {
			p.Close()
			return nil, fmt.Errorf("output topic %q does not exist", t)
		}
	}
	out.prod = p
	return out, nil
}

func (out *output) finish(ctx context.Context) error {
	if out.file != nil {
		return out.file.Flush()
	}
	if err := out.prod.Flush(ctx); err != nil {
		return fmt.Errorf("waiting for the broker to acknowledge predictions: %w", err)
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

// batcher collects one poll's in-range records and scores them model by
// model, like run's pipeline does.
type batcher struct {
	o        Options
	out      *output
	decoders map[string]schemas.Decoder
	sum      *Summary
	recs     []*kgo.Record
	evs      []schemas.Event
	batch    scoring.Batch
}

func (b *batcher) reset() { b.recs = b.recs[:0] }

func (b *batcher) add(r *kgo.Record) { b.recs = append(b.recs, r) }

func (b *batcher) flush() error {
	if len(b.recs) == 0 {
		return nil
	}
	if cap(b.evs) < len(b.recs) {
		b.evs = make([]schemas.Event, len(b.recs))
	}
	evs := b.evs[:len(b.recs)]
	for _, route := range b.o.Models.Routes() {
		var items []int
		var events []*schemas.Event
		for i, r := range b.recs {
			if b.o.Models.For(r.Topic) != route {
				continue
			}
			// A batch is handled whole (the state already counts it), so
			// an unavailable registry is waited out here, not interrupted.
			err := schemas.DecodeWaiting(context.Background(), b.decoders[r.Topic], r.Value, &evs[i], func(err error) {
				b.o.Logger.Warn("waiting for the schema registry; the record is not dead-lettered", "err", err)
			})
			if err != nil {
				if err := b.reject(r, nil, producer.StageDecode, err); err != nil {
					return err
				}
				continue
			}
			items = append(items, i)
			events = append(events, &evs[i])
		}
		if len(events) == 0 {
			continue
		}
		s := route.Scorer()
		s.Score(events, &b.batch)
		scoredAt := schemas.Millis(time.Now())
		for k, i := range items {
			r, res := b.recs[i], &b.batch.Results[k]
			if res.Err != nil {
				if err := b.reject(r, events[k], res.Stage, res.Err); err != nil {
					return err
				}
				continue
			}
			if err := b.emit(r, events[k], res, s, scoredAt, route); err != nil {
				return err
			}
		}
	}
	return nil
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

func (b *batcher) emit(r *kgo.Record, ev *schemas.Event, res *scoring.Result, s *scoring.Scorer, at schemas.Millis, route *modelset.Route) error {
	if b.out.file != nil {
		if err := b.out.file.Write(sourceCells(r, ev), res, s.Info().Version, schemas.FormatTime(time.Time(at))); err != nil {
			return err
		}
		b.out.predictions.Add(1)
		return nil
	}
	pred := s.Prediction(ev, res, schemas.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, at)
	topic := b.out.topic
	if b.o.OutputTopic == "" && route.OutputTopic() != "" {
		topic = route.OutputTopic()
	}
	b.out.prod.Prediction(&pred, r, topic, func(dead bool) {
		if dead {
			b.out.deadLetters.Add(1)
			return
		}
		b.out.predictions.Add(1)
	})
	return nil
}

func (b *batcher) reject(r *kgo.Record, ev *schemas.Event, stage string, cause error) error {
	if b.out.file != nil {
		b.out.deadLetters.Add(1)
		return b.out.file.Reject(int(r.Offset), stage+": "+cause.Error(), sourceCells(r, ev))
	}
	b.out.prod.DeadLetter(r, stage, cause, func() { b.out.deadLetters.Add(1) })
	return nil
}
