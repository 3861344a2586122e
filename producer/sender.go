package producer

import (
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

// Result is what a source record's output came to.
type Result uint8

// Results a Sender reports.
const (
	// Predicted: the prediction is acknowledged by the broker.
	Predicted Result = iota
	// DeadLettered: the record's dead letter is acknowledged (the record
	// could not be scored, or the broker refused its prediction).
	DeadLettered
)

// Sender publishes the outputs of one lane at least once. Each Prediction
// or DeadLetter call ends in exactly one call of the done function given
// to NewSender, from a franz-go goroutine, once the output is acknowledged
// — unless the Producer closes first (a shutdown past its deadline): then
// done is never called, and the source stays uncommitted and is read
// again.
//
// Failures follow the record/destination split (RecordRefused):
//   - a prediction the broker refuses as a record (too large, say) becomes
//     a dead letter with stage produce, alone;
//   - a dead letter the dead-letter topic refuses as a record is written
//     again truncated (TruncatedDeadLetter), so progress never stalls on it;
//   - any other failure is the destination's (topic missing or recreated,
//     not authorized, brokers down): the record is held and produced again
//     with backoff (100 ms doubling to 5 s) until it is written, nothing is
//     dead-lettered, and OnError hears every failure so readiness reports
//     it. A topic recreated under the same name is produced to again (the
//     client's metadata of it is purged on UNKNOWN_TOPIC_ID).
//
// Records and their buffers are pooled: a warm Sender allocates nothing
// per prediction. Sends are safe for concurrent use, though a lane uses
// its own Sender; done must be safe to call from several goroutines.
type Sender[T any] struct {
	p       *Producer
	done    func(ref T, res Result)
	promise func(*kgo.Record, error)
	pool    envelopes[T]
	closed  sync.Once
}

// NewSender returns a Sender on p that reports to done.
func NewSender[T any](p *Producer, done func(ref T, res Result)) *Sender[T] {
	s := &Sender[T]{p: p, done: done}
	s.promise = s.answered
	return s
}

// Prediction publishes pred, made for src, to topic (the default
// predictions topic when empty). It blocks while the producer's buffer is
// full.
func (s *Sender[T]) Prediction(pred *schemas.Prediction, src *kgo.Record, topic string, ref T) {
	if topic == "" {
		topic = s.p.topic
	}
	e := s.pool.get()
	e.ref = ref
	if err := e.setPrediction(s.p.enc, pred, src, topic); err != nil {
		// cannot happen for a well-formed prediction; never lose the record
		e.setDeadLetter(src, s.p.dlq, StageProduce, err)
	}
	s.produce(e)
}

// DeadLetter publishes src unchanged to the dead-letter topic with headers
// that say why (see DeadLetterRecord).
func (s *Sender[T]) DeadLetter(src *kgo.Record, stage string, cause error, ref T) {
	e := s.pool.get()
	e.ref = ref
	e.setDeadLetter(src, s.p.dlq, stage, cause)
	s.produce(e)
}

func (s *Sender[T]) produce(e *envelope[T]) {
	s.p.cl.Produce(s.p.ctx, &e.rec, s.promise)
}

// answered is the promise of every record this Sender produces.
func (s *Sender[T]) answered(r *kgo.Record, err error) {
	e := r.Context.(*envelope[T])
	switch {
	case err == nil:
		res := Predicted
		if e.kind != KindPrediction {
			res = DeadLettered
		}
		ref := e.ref
		s.pool.put(e)
		s.done(ref, res)
		return
	case s.p.ctx.Err() != nil:
		s.closed.Do(func() {
			s.p.log.Warn("producer closed before every output was acknowledged; their sources stay uncommitted and are read again")
		})
		s.pool.put(e)
		return
	}
	s.p.onErr(r.Topic, err)
	switch {
	case RecordRefused(err) && e.kind == KindPrediction:
		s.p.log.Warn("prediction refused by the broker; writing a dead letter",
			"topic", e.src.Topic, "partition", e.src.Partition, "offset", e.src.Offset, "err", err)
		e.setDeadLetter(e.src, s.p.dlq, StageProduce, err)
		s.produce(e)
	case RecordRefused(err) && e.kind == KindDeadLetter:
		s.p.log.Error("dead letter refused by the dead-letter topic; writing it truncated",
			"topic", e.src.Topic, "partition", e.src.Partition, "offset", e.src.Offset, "err", err)
		e.limit = s.p.limits.For(s.p.dlq)
		e.setTruncated(e.limit, err)
		s.produce(e)
	case RecordRefused(err) && e.kind == KindTruncated && e.limit > 0:
		e.limit /= 2 // the topic's limit is smaller than it says: cut harder, down to the headers
		e.setTruncated(e.limit, err)
		s.produce(e)
	default:
		s.hold(e, err)
	}
}

// hold produces e again after a backoff: its destination failed.
func (s *Sender[T]) hold(e *envelope[T], err error) {
	e.backoff = min(max(2*e.backoff, 100*time.Millisecond), 5*time.Second)
	if errors.Is(err, kerr.UnknownTopicID) { // deleted, maybe recreated: forget the old topic id
		s.p.purge(e.rec.Topic)
	}
	if s.p.holdLog.allow() {
		s.p.log.Warn(e.kind.String()+" not written; holding it and retrying (nothing past it is committed)",
			"topic", e.rec.Topic, "source_topic", e.src.Topic, "source_partition", e.src.Partition,
			"source_offset", e.src.Offset, "retry_in", e.backoff, "err", err)
	}
	time.AfterFunc(e.backoff, func() {
		if s.p.ctx.Err() != nil {
			s.pool.put(e)
			return
		}
		e.resetForRetry()
		s.produce(e)
	})
}
