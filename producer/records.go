package producer

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

// HeaderTruncated marks a dead letter that the dead-letter topic refused
// whole and that was written again cut to fit (see TruncatedDeadLetter).
const HeaderTruncated = "streamscore-truncated"

// Kind says what an output record is.
type Kind uint8

// Output kinds.
const (
	KindPrediction Kind = iota
	KindDeadLetter
	KindTruncated // a dead letter cut to fit the dead-letter topic
)

func (k Kind) String() string {
	switch k {
	case KindPrediction:
		return "prediction"
	case KindDeadLetter:
		return "dead letter"
	}
	return "truncated dead letter"
}

// RecordRefused reports whether a produce error is the broker (or the
// client on its behalf) refusing the record itself — too large, invalid,
// corrupt — so that the record can never be written as it is, while the
// destination works for other records. Everything else (a topic that does
// not exist or was recreated, missing authorization, timeouts, brokers
// down, fencing) is the destination's failure: it is never a record's
// fault, so it must hold the stream, not turn good records into dead
// letters.
func RecordRefused(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.CorruptMessage)
}

// Cancelled reports whether a produce error is the producer's own context
// ending (a shutdown), not a verdict on the record.
func Cancelled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed)
}

// envelope is one output in flight: the record handed to franz-go, the
// source it answers for, the caller's reference, and the buffers the
// record's key, value and headers live in, reused once the broker has
// answered. It is the record's Context, which is how the one promise of a
// sender finds it again. franz-go calls Done on a record's Context (also
// from goroutines of its own that outlive the record); noCancel answers
// without reading any field of the envelope, so recycling it is no race.
type envelope[T any] struct {
	noCancel
	rec     kgo.Record
	src     *kgo.Record
	ref     T
	kind    Kind
	stage   string
	cause   error
	buf     []byte
	hdrs    []kgo.RecordHeader
	backoff time.Duration
	limit   int32 // the limit a truncated dead letter was cut to
}

// noCancel is a context.Context that is never done and carries no values.
type noCancel struct{}

func (noCancel) Deadline() (time.Time, bool) { return time.Time{}, false }
func (noCancel) Done() <-chan struct{}       { return nil }
func (noCancel) Err() error                  { return nil }
func (noCancel) Value(any) any               { return nil }

// envelopes is a pool of envelopes; its zero value is ready.
type envelopes[T any] struct{ pool sync.Pool }

func (p *envelopes[T]) get() *envelope[T] {
	if e, ok := p.pool.Get().(*envelope[T]); ok {
		return e
	}
	// room for a typical prediction's key and value (a JSON prediction
	// with its entity key is ~320 bytes): one allocation, not one per
	// doubling
	return &envelope[T]{buf: make([]byte, 0, newEnvelopeBuf)}
}

// newEnvelopeBuf is a new envelope's buffer capacity.
const newEnvelopeBuf = 512

// put recycles an envelope whose record franz-go has answered for.
func (p *envelopes[T]) put(e *envelope[T]) {
	buf, hdrs := e.buf, e.hdrs
	clear(hdrs)
	*e = envelope[T]{buf: buf[:0], hdrs: hdrs[:0]}
	if cap(buf) <= 1<<16 { // keep no huge buffers around
		p.pool.Put(e)
	}
}

// resetForRetry clears what franz-go set on the record when it was
// produced, keeping what it carries (topic, key, value, headers); the
// timestamp is set again to the new produce time.
func (e *envelope[T]) resetForRetry() {
	r := &e.rec
	*r = kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Context: e}
}

// setPrediction fills e with the prediction record of pred for src: key =
// entity id, the source's traceparent header copied, both encoded into
// e's buffer.
func (e *envelope[T]) setPrediction(enc schemas.PredictionEncoder, pred *schemas.Prediction, src *kgo.Record, topic string) error {
	e.buf = append(e.buf[:0], pred.EntityID...)
	k := len(e.buf)
	var err error
	if e.buf, err = enc.Append(e.buf, pred); err != nil {
		return err
	}
	e.hdrs = e.hdrs[:0]
	for _, h := range src.Headers {
		if h.Key == "traceparent" {
			e.hdrs = append(e.hdrs, h)
		}
	}
	e.src, e.kind = src, KindPrediction
	e.rec = kgo.Record{Topic: topic, Key: e.buf[:k:k], Value: e.buf[k:], Headers: e.hdrs, Context: e}
	return nil
}

// setDeadLetter fills e with the dead letter of src (see DeadLetterRecord).
func (e *envelope[T]) setDeadLetter(src *kgo.Record, dlq, stage string, cause error) {
	e.src, e.kind, e.stage, e.cause = src, KindDeadLetter, stage, cause
	e.hdrs = appendDeadLetterHeaders(e.hdrs[:0], src, stage, cause)
	e.rec = kgo.Record{Topic: dlq, Key: src.Key, Value: src.Value, Headers: e.hdrs, Context: e}
}

// setTruncated turns e, a dead letter the topic refused, into its
// truncated form (see TruncatedDeadLetter).
func (e *envelope[T]) setTruncated(limit int32, refusal error) {
	t := TruncatedDeadLetter(e.src, e.rec.Topic, e.stage, e.cause, refusal, limit)
	e.kind = KindTruncated
	e.hdrs = append(e.hdrs[:0], t.Headers...)
	e.rec = kgo.Record{Topic: t.Topic, Key: t.Key, Value: t.Value, Headers: e.hdrs, Context: e}
}

// PredictionRecord builds the record of a prediction: key = entity id,
// the source's traceparent header copied, the timestamp left to the client
// (produce time).
func PredictionRecord(enc schemas.PredictionEncoder, pred *schemas.Prediction, src *kgo.Record, topic string) (*kgo.Record, error) {
	var e envelope[struct{}]
	if err := e.setPrediction(enc, pred, src, topic); err != nil {
		return nil, err
	}
	r := e.rec
	r.Context = nil
	return &r, nil
}

// DeadLetterRecord builds the dead letter of a source record for topic
// dlq: its key, value and headers unchanged, plus the streamscore-*
// headers that say why.
func DeadLetterRecord(src *kgo.Record, dlq, stage string, cause error) *kgo.Record {
	return &kgo.Record{Topic: dlq, Key: src.Key, Value: src.Value, Headers: appendDeadLetterHeaders(nil, src, stage, cause)}
}

func appendDeadLetterHeaders(h []kgo.RecordHeader, src *kgo.Record, stage string, cause error) []kgo.RecordHeader {
	h = append(h, src.Headers...)
	return append(h,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: HeaderStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
		kgo.RecordHeader{Key: HeaderFailedAt, Value: []byte(schemas.FormatTime(time.Now()))},
	)
}

// maxReasonBytes bounds the error header of a truncated dead letter.
const maxReasonBytes = 1024

// TruncatedDeadLetter builds the dead letter that replaces one the
// dead-letter topic refused (its limit is limit bytes, max.message.bytes):
// the streamscore-* headers with the reason (the original failure and the
// refusal, cut to 1 KiB) and the source coordinates, header
// streamscore-truncated: true, the source's own headers dropped, and as
// much of the source key and value, from their first byte, as fits in the
// limit. So a record whose dead letter is too large still leaves a trace
// of where it came from, and its partition's progress never stalls on it.
func TruncatedDeadLetter(src *kgo.Record, dlq, stage string, cause, refusal error, limit int32) *kgo.Record {
	reason := cause.Error() + " (its dead letter was refused: " + refusal.Error() + "; key and value truncated)"
	if len(reason) > maxReasonBytes {
		reason = reason[:maxReasonBytes]
	}
	h := []kgo.RecordHeader{
		{Key: HeaderError, Value: []byte(reason)},
		{Key: HeaderStage, Value: []byte(stage)},
		{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
		{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
		{Key: HeaderFailedAt, Value: []byte(schemas.FormatTime(time.Now()))},
		{Key: HeaderTruncated, Value: []byte("true")},
	}
	// What a one-record batch costs besides key and value: the batch
	// header (61 bytes), the record's framing (at most ~25 bytes of
	// varints) and each header's key, value and two varint lengths; a
	// margin covers the rest.
	budget := int(limit) - 61 - 25 - 64
	for _, x := range h {
		budget -= len(x.Key) + len(x.Value) + 10
	}
	budget = max(budget, 0)
	key := src.Key[:min(len(src.Key), budget/2)]
	value := src.Value[:min(len(src.Value), budget-len(key))]
	return &kgo.Record{Topic: dlq, Key: key, Value: value, Headers: h}
}
