package producer

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

// TxnSender publishes the outputs of one lane inside Kafka transactions
// (DELIVERY=exactly-once), on the transactional client of a
// GroupTransactSession. It never retries and never replaces an output by
// itself: within a transaction any failure aborts it, and the runner
// decides what the next attempt writes (a dead letter for a prediction
// refused as a record, a truncated dead letter for a refused dead letter).
// Each Prediction, DeadLetter or TruncatedDeadLetter call ends in exactly
// one call of done, from a franz-go goroutine, with the output's kind, its
// topic and the broker's verdict (nil: written in the open transaction). Records and
// their buffers are pooled as in Sender.
type TxnSender[T any] struct {
	ctx     context.Context
	cl      *kgo.Client
	enc     schemas.PredictionEncoder
	topic   string
	dlq     string
	limits  *Limits
	done    func(ref T, kind Kind, topic string, err error)
	promise func(*kgo.Record, error)
	pool    envelopes[T]
}

// NewTxnSender returns a TxnSender producing with cl (the transactional
// client) that reports to done. Sends live in ctx: when it ends, a send
// blocked on a full buffer returns and buffered records fail (done hears
// the context's error).
func NewTxnSender[T any](ctx context.Context, cl *kgo.Client, enc schemas.PredictionEncoder, topic, dlq string, limits *Limits, done func(ref T, kind Kind, topic string, err error)) *TxnSender[T] {
	s := &TxnSender[T]{ctx: ctx, cl: cl, enc: enc, topic: topic, dlq: dlq, limits: limits, done: done}
	s.promise = s.answered
	return s
}

// Prediction publishes pred, made for src, to topic (the default
// predictions topic when empty) in the open transaction.
func (s *TxnSender[T]) Prediction(pred *schemas.Prediction, src *kgo.Record, topic string, ref T) {
	if topic == "" {
		topic = s.topic
	}
	e := s.pool.get()
	e.ref = ref
	if err := e.setPrediction(s.enc, pred, src, topic); err != nil {
		e.setDeadLetter(src, s.dlq, StageProduce, err)
	}
	s.cl.Produce(s.ctx, &e.rec, s.promise)
}

// DeadLetter publishes src's dead letter in the open transaction.
func (s *TxnSender[T]) DeadLetter(src *kgo.Record, stage string, cause error, ref T) {
	e := s.pool.get()
	e.ref = ref
	e.setDeadLetter(src, s.dlq, stage, cause)
	s.cl.Produce(s.ctx, &e.rec, s.promise)
}

// TruncatedDeadLetter publishes the truncated form of src's dead letter
// (its full form was refused: refusal) in the open transaction, cut to
// limit bytes (0: the dead-letter topic's max.message.bytes).
func (s *TxnSender[T]) TruncatedDeadLetter(src *kgo.Record, stage string, cause, refusal error, limit int32, ref T) {
	e := s.pool.get()
	e.ref = ref
	e.setDeadLetter(src, s.dlq, stage, cause)
	if limit <= 0 {
		limit = s.limits.For(s.dlq)
	}
	e.setTruncated(limit, refusal)
	s.cl.Produce(s.ctx, &e.rec, s.promise)
}

func (s *TxnSender[T]) answered(r *kgo.Record, err error) {
	e := r.Context.(*envelope[T])
	ref, kind, topic := e.ref, e.kind, r.Topic
	s.pool.put(e)
	s.done(ref, kind, topic, err)
}
