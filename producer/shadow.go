package producer

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

// ShadowSender publishes a shadow challenger's predictions. Unlike Sender
// and TxnSender it never turns a prediction into a dead letter, never
// holds or retries one, and never reports to the producer's OnError: a
// challenger's output is the challenger's alone, and whatever happens to
// it leaves the champion's outputs, commits and readiness as they are.
// Each Prediction call that returns nil ends in exactly one call of done
// with the verdict (nil: written; kgo.ErrMaxBuffered: an at-least-once
// sender's buffer was full); one that returns an error (the prediction
// does not encode) does not call done. Records and their buffers are
// pooled as in Sender.
type ShadowSender[T any] struct {
	ctx     context.Context
	cl      *kgo.Client
	enc     schemas.PredictionEncoder
	try     bool // at-least-once: TryProduce, never wait for room in the buffer
	done    func(ref T, topic string, err error)
	promise func(*kgo.Record, error)
	pool    envelopes[T]
}

// NewShadowSender returns an at-least-once ShadowSender on p: a
// prediction is produced only when the producer's buffer has room
// (done hears kgo.ErrMaxBuffered otherwise, at once), so a challenger never makes the lane
// wait for the broker.
func NewShadowSender[T any](p *Producer, done func(ref T, topic string, err error)) *ShadowSender[T] {
	s := &ShadowSender[T]{ctx: p.ctx, cl: p.cl, enc: p.enc, try: true, done: done}
	s.promise = s.answered
	return s
}

// NewTxnShadowSender returns a ShadowSender producing with cl, the
// transactional client of an exactly-once session, into the open
// transaction: the challenger's records commit or abort with the
// champion's. A failed one fails the transaction (Kafka cannot commit a
// transaction one of whose records failed); the caller decides what the
// next attempt leaves out.
func NewTxnShadowSender[T any](ctx context.Context, cl *kgo.Client, enc schemas.PredictionEncoder, done func(ref T, topic string, err error)) *ShadowSender[T] {
	s := &ShadowSender[T]{ctx: ctx, cl: cl, enc: enc, done: done}
	s.promise = s.answered
	return s
}

// Prediction publishes pred, the challenger's prediction for src, to
// topic.
func (s *ShadowSender[T]) Prediction(pred *schemas.Prediction, src *kgo.Record, topic string, ref T) error {
	e := s.pool.get()
	e.ref = ref
	if err := e.setPrediction(s.enc, pred, src, topic); err != nil {
		s.pool.put(e)
		return err
	}
	if s.try {
		s.cl.TryProduce(s.ctx, &e.rec, s.promise)
	} else {
		s.cl.Produce(s.ctx, &e.rec, s.promise)
	}
	return nil
}

func (s *ShadowSender[T]) answered(r *kgo.Record, err error) {
	e := r.Context.(*envelope[T])
	ref, topic := e.ref, e.rec.Topic
	s.pool.put(e)
	s.done(ref, topic, err)
}
