package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

// Dead-letter header names.
const (
	HeaderError           = "streamscore-error"
	HeaderStage           = "streamscore-stage"
	HeaderSourceTopic     = "streamscore-source-topic"
	HeaderSourcePartition = "streamscore-source-partition"
	HeaderSourceOffset    = "streamscore-source-offset"
	HeaderFailedAt        = "streamscore-failed-at"
)

// Stages a dead letter can come from.
const (
	StageDecode   = "decode"
	StageFeatures = "features"
	StageScore    = "score"
	StageProduce  = "produce"
)

// Options configure a Producer.
type Options struct {
	Conn        []kgo.Opt // brokers, TLS, SASL, client id
	Extra       []kgo.Opt // for tests
	Compression string    // none | gzip | snappy | lz4 | zstd
	Encoding    schemas.Encoding
	// Encoder, when set, encodes predictions instead of Encoding's default
	// encoder (avro-confluent needs one built with the registry).
	Encoder  schemas.PredictionEncoder
	Topic    string // predictions
	DLQTopic string // dead letters
	// MaxBufferedRecords and MaxBufferedBytes bound what waits for the
	// broker; Prediction and DeadLetter block while the buffer is full.
	MaxBufferedRecords int
	MaxBufferedBytes   int
	// Limits caps each topic's batches at its max.message.bytes (see
	// Limits); nil makes an empty one, to Load before producing.
	Limits *Limits
	// OnError, if set, receives every error the broker or client returns
	// for a record (the record itself is then dead-lettered or retried as
	// documented); the pipeline turns authorization and missing-topic
	// errors into readiness. It must not block.
	OnError func(topic string, err error)
	Logger  *slog.Logger
}

// Producer publishes predictions and dead letters. Safe for concurrent use.
type Producer struct {
	cl     *kgo.Client
	limits *Limits
	onErr  func(topic string, err error)
	enc    schemas.PredictionEncoder
	topic  string
	dlq    string
	log    *slog.Logger
	ctx    context.Context // ends retries of dead letters
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ParseCompression maps a KAFKA_COMPRESSION value to a codec.
func ParseCompression(s string) (kgo.CompressionCodec, error) {
	switch s {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown compression %q (want none, gzip, snappy, lz4 or zstd)", s)
}

// New creates the producer client.
func New(o Options) (*Producer, error) {
	if o.Topic == "" || o.DLQTopic == "" {
		return nil, errors.New("producer: topic and dead-letter topic are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	enc := o.Encoder
	if enc == nil {
		var err error
		if enc, err = schemas.NewPredictionEncoder(o.Encoding); err != nil {
			return nil, err
		}
	}
	codec, err := ParseCompression(o.Compression)
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{}, o.Conn...)
	if o.Limits == nil {
		o.Limits = new(Limits)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), o.Limits.Opt())
	if o.MaxBufferedRecords > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(o.MaxBufferedRecords))
	}
	if o.MaxBufferedBytes > 0 {
		opts = append(opts, kgo.MaxBufferedBytes(o.MaxBufferedBytes))
	}
	opts = append(opts, o.Extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("producer client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	onErr := o.OnError
	if onErr == nil {
		onErr = func(string, error) {}
	}
	return &Producer{cl: cl, limits: o.Limits, onErr: onErr, enc: enc, topic: o.Topic, dlq: o.DLQTopic, log: o.Logger, ctx: ctx, cancel: cancel}, nil
}

// Client is the underlying franz-go client.
func (p *Producer) Client() *kgo.Client { return p.cl }

// Limits are the per-topic batch caps; Load them before the first record.
func (p *Producer) Limits() *Limits { return p.limits }

// Prediction publishes pred for the source record src (key = entity id; an
// input traceparent header is copied) to topic, or to the default
// predictions topic when topic is empty. done is called once the
// prediction is acknowledged (deadLettered false), or once the dead letter
// that replaces a refused one is (deadLettered true). It blocks while the
// buffer is full. After Close, done is never called: the record stays
// uncommitted and is read again.
func (p *Producer) Prediction(pred *schemas.Prediction, src *kgo.Record, topic string, done func(deadLettered bool)) {
	if topic == "" {
		topic = p.topic
	}
	asDead := func() { done(true) }
	rec, err := PredictionRecord(p.enc, pred, src, topic)
	if err != nil { // cannot happen for a well-formed prediction; never lose the record
		p.DeadLetter(src, StageProduce, err, asDead)
		return
	}
	p.produce(rec, func(err error) {
		if err == nil {
			done(false)
			return
		}
		p.log.Warn("prediction refused by the broker; writing a dead letter", "topic", src.Topic, "partition", src.Partition, "offset", src.Offset, "err", err)
		p.deadLetterRetrying(src, StageProduce, err, asDead)
	})
}

// DeadLetter publishes the source record unchanged to the dead-letter topic
// with headers that say why, and calls done once it is acknowledged
// (retrying until then, or until Close).
func (p *Producer) DeadLetter(src *kgo.Record, stage string, cause error, done func()) {
	p.produce(p.deadLetter(src, stage, cause), func(err error) {
		if err == nil {
			done()
			return
		}
		p.deadLetterRetrying(src, stage, cause, done)
	})
}

func (p *Producer) deadLetter(src *kgo.Record, stage string, cause error) *kgo.Record {
	return DeadLetterRecord(src, p.dlq, stage, cause)
}

// PredictionRecord builds the record of a prediction: key = entity id,
// the source's traceparent header copied, the timestamp left to the client
// (produce time).
func PredictionRecord(enc schemas.PredictionEncoder, pred *schemas.Prediction, src *kgo.Record, topic string) (*kgo.Record, error) {
	val, err := enc.Append(nil, pred)
	if err != nil {
		return nil, fmt.Errorf("encode prediction: %w", err)
	}
	rec := &kgo.Record{Topic: topic, Key: []byte(pred.EntityID), Value: val}
	for _, h := range src.Headers {
		if h.Key == "traceparent" {
			rec.Headers = append(rec.Headers, h)
		}
	}
	return rec, nil
}

// DeadLetterRecord builds the dead letter of a source record for topic
// dlq: its key, value and headers unchanged, plus the streamscore-*
// headers that say why.
func DeadLetterRecord(src *kgo.Record, dlq, stage string, cause error) *kgo.Record {
	h := make([]kgo.RecordHeader, 0, len(src.Headers)+6)
	h = append(h, src.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: HeaderStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
		kgo.RecordHeader{Key: HeaderFailedAt, Value: []byte(schemas.FormatTime(time.Now()))},
	)
	return &kgo.Record{Topic: dlq, Key: src.Key, Value: src.Value, Headers: h}
}

// deadLetterRetrying writes a dead letter from a producer callback, retrying
// with backoff until it is acknowledged or the producer closes.
func (p *Producer) deadLetterRetrying(src *kgo.Record, stage string, cause error, done func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		backoff := 100 * time.Millisecond
		for attempt := 1; ; attempt++ {
			res := p.cl.ProduceSync(p.ctx, p.deadLetter(src, stage, cause))
			err := res.FirstErr()
			if err == nil {
				done()
				return
			}
			p.onErr(p.dlq, err)
			if p.ctx.Err() != nil {
				p.log.Error("dead letter not written before shutdown; its offset stays uncommitted and the record will be read again",
					"topic", src.Topic, "partition", src.Partition, "offset", src.Offset)
				return
			}
			p.log.Error("dead letter write failed; retrying", "attempt", attempt, "topic", src.Topic,
				"partition", src.Partition, "offset", src.Offset, "err", err)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
			}
			backoff = min(2*backoff, 10*time.Second)
		}
	}()
}

// produce buffers rec; cb receives the broker's verdict unless the producer
// was closed meanwhile. The record timestamp is left to the client: the
// produce time. Records live in the producer's context, not a caller's, so
// a shutdown drains them instead of failing them.
func (p *Producer) produce(rec *kgo.Record, cb func(error)) {
	p.cl.Produce(p.ctx, rec, func(r *kgo.Record, err error) {
		if err != nil && p.ctx.Err() != nil {
			p.log.Error("producer closed before the record was acknowledged; its source offset stays uncommitted",
				"topic", r.Topic, "err", err)
			return
		}
		if err != nil {
			p.onErr(r.Topic, err)
		}
		cb(err)
	})
}

// Flush waits until every buffered record is acknowledged or ctx ends.
func (p *Producer) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }

// Close stops dead-letter retries and closes the client; records still
// buffered fail (their callbacks do not report success).
func (p *Producer) Close() {
	p.cancel()
	p.wg.Wait()
	p.cl.Close()
}
