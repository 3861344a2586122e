package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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
	// broker; sends block while the buffer is full.
	MaxBufferedRecords int
	MaxBufferedBytes   int
	// Limits caps each topic's batches at its max.message.bytes (see
	// Limits); nil makes an empty one, to Load before producing.
	Limits *Limits
	// OnError, if set, receives every error the broker or client returns
	// for a record; the pipeline turns them into readiness conditions. It
	// must not block.
	OnError func(topic string, err error)
	Logger  *slog.Logger
}

// Producer is the Kafka client that publishes predictions and dead
// letters, and the settings its senders share. Records are produced with
// Senders (one per lane); a Producer is safe for concurrent use.
type Producer struct {
	cl     *kgo.Client
	limits *Limits
	onErr  func(topic string, err error)
	enc    schemas.PredictionEncoder
	topic  string
	dlq    string
	log    *slog.Logger
	ctx    context.Context // every send lives in it; Close ends it
	cancel context.CancelFunc

	holdLog  every // rate of the log line for held records
	purgeMu  sync.Mutex
	purgedAt map[string]time.Time
}

// every lets an action through at most once per period (5 s). Safe for
// concurrent use.
type every struct{ last atomic.Int64 }

func (e *every) allow() bool {
	now := time.Now().UnixNano()
	last := e.last.Load()
	return now-last >= int64(5*time.Second) && e.last.CompareAndSwap(last, now)
}

// purge drops the client's metadata of a topic that answered
// UNKNOWN_TOPIC_ID (deleted, perhaps recreated under the same name), at
// most once a second per topic, so that the next produce loads the new
// topic's id.
func (p *Producer) purge(topic string) {
	p.purgeMu.Lock()
	if time.Since(p.purgedAt[topic]) < time.Second {
		p.purgeMu.Unlock()
		return
	}
	if p.purgedAt == nil {
		p.purgedAt = map[string]time.Time{}
	}
	p.purgedAt[topic] = time.Now()
	p.purgeMu.Unlock()
	p.log.Info("topic id unknown to the broker (the topic was deleted or recreated); reloading its metadata", "topic", topic)
	go p.cl.PurgeTopicsFromProducing(topic) // not from the promise that saw the error: purging waits for the topic's produce requests
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
	compression, err := Compression(o.Compression)
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{}, o.Conn...)
	if o.Limits == nil {
		o.Limits = new(Limits)
	}
	opts = append(opts, compression, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), o.Limits.Opt())
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

// Topic is the default predictions topic.
func (p *Producer) Topic() string { return p.topic }

// DLQTopic is the dead-letter topic.
func (p *Producer) DLQTopic() string { return p.dlq }

// Flush waits until every buffered record is acknowledged or ctx ends.
// Records held for a failed destination are not buffered while they wait
// for their next attempt; wait for the senders' callbacks to know that
// everything is written.
func (p *Producer) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }

// Close ends every send: records still buffered or held fail without their
// callbacks reporting success (their sources stay uncommitted and are read
// again), and the client closes.
func (p *Producer) Close() {
	p.cancel()
	p.cl.Close()
}
