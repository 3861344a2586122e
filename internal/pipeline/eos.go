package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
)

// Exactly-once delivery (DELIVERY=exactly-once) runs on franz-go's
// GroupTransactSession, whose End commits every polled offset with the
// transaction. So each transaction is a barrier: poll, score the polled
// records (the batch), produce their predictions and dead letters, End. No
// record is committed unscored. An abort (a rebalance during the
// transaction, a produce failure) leaves nothing visible to read_committed
// readers, and the session fetches the records again from the last
// committed offsets.

// TransactionalID is KAFKA_TRANSACTIONAL_ID, or the group id plus the
// instance id (or host name): stable per instance, so that a restarted
// instance fences its predecessor instead of waiting out its transaction.
func TransactionalID(cfg config.Config) string {
	if cfg.TransactionalID != "" {
		return cfg.TransactionalID
	}
	id := cfg.GroupInstanceID
	if id == "" {
		id, _ = os.Hostname()
	}
	return cfg.GroupID + "-" + id
}

func (p *Pipeline) newSession(conn []kgo.Opt) (*kgo.GroupTransactSession, error) {
	codec, err := producer.ParseCompression(p.cfg.Compression)
	if err != nil {
		return nil, err
	}
	start := kgo.NewOffset().AtStart()
	if p.cfg.StartOffset == "latest" {
		start = kgo.NewOffset().AtEnd()
	}
	opts := append(conn,
		kgo.ConsumerGroup(p.cfg.GroupID),
		kgo.ConsumeTopics(p.cfg.Topics()...),
		kgo.TransactionalID(TransactionalID(p.cfg)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(start),
		kgo.ProducerBatchCompression(codec),
		kgo.FetchMaxBytes(int32(min(p.cfg.MaxInFlightBytes/4, 1<<30))),
	)
	if p.cfg.GroupInstanceID != "" {
		opts = append(opts, kgo.InstanceID(p.cfg.GroupInstanceID))
	}
	return kgo.NewGroupTransactSession(opts...)
}

// runTransactional is Run for DELIVERY=exactly-once.
func (p *Pipeline) runTransactional(ctx context.Context) error {
	defer p.sess.Close()
	for ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fs := p.sess.PollRecords(pollCtx, p.cfg.BatchMaxSize)
		cancel()
		if fs.IsClientClosed() {
			return kgo.ErrClientClosed
		}
		fs.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				p.log.Warn("fetch error", "topic", t, "partition", part, "err", err)
			}
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := p.transact(recs); err != nil {
			return err
		}
	}
	p.log.Info("stopped", "consumed", p.stats.Consumed.Load(), "predictions", p.stats.Predictions.Load(),
		"dead_letters", p.stats.DeadLetters.Load())
	return nil
}

// transact scores one poll's records in one transaction.
func (p *Pipeline) transact(recs []*kgo.Record) error {
	if err := p.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	cl := p.sess.Client()
	send := func(r *kgo.Record) {
		wg.Add(1)
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	preds, dead := p.scoreRecords(recs, send)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	committed, err := p.sess.End(ctx, kgo.TransactionEndTry(firstErr == nil))
	if err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		p.log.Warn("transaction aborted; its records will be fetched and scored again", "records", len(recs), "produce_err", firstErr)
		return nil
	}
	p.stats.Consumed.Add(int64(len(recs)))
	p.stats.Predictions.Add(int64(preds))
	p.stats.DeadLetters.Add(int64(dead))
	for _, r := range recs {
		p.consumed[r.Topic].Inc()
	}
	p.obs.BatchDone(time.Now())
	return nil
}

// scoreRecords decodes and scores records model by model and hands the
// prediction and dead-letter records to send; it returns their counts.
func (p *Pipeline) scoreRecords(recs []*kgo.Record, send func(*kgo.Record)) (preds, dead int) {
	evs := make([]schemas.Event, len(recs))
	ok := make([]bool, len(recs))
	for i, r := range recs {
		if err := p.decoders[r.Topic].Decode(r.Value, &evs[i]); err != nil {
			send(producer.DeadLetterRecord(r, p.cfg.DLQTopic, producer.StageDecode, err))
			p.deadCounter(producer.StageDecode).Inc()
			dead++
			continue
		}
		ok[i] = true
	}
	for _, route := range p.models.Routes() {
		var idx []int
		var group []*schemas.Event
		for i, r := range recs {
			if ok[i] && p.models.For(r.Topic) == route {
				idx = append(idx, i)
				group = append(group, &evs[i])
			}
		}
		if len(group) == 0 {
			continue
		}
		s := route.Scorer()
		s.Score(group, &p.batch)
		at := schemas.Millis(time.Now())
		topic := route.OutputTopic()
		if topic == "" {
			topic = p.cfg.OutputTopic
		}
		for k, i := range idx {
			res, r := &p.batch.Results[k], recs[i]
			if res.Err != nil {
				send(producer.DeadLetterRecord(r, p.cfg.DLQTopic, res.Stage, res.Err))
				p.deadCounter(res.Stage).Inc()
				dead++
				continue
			}
			pred := s.Prediction(group[k], res, schemas.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, at)
			rec, err := producer.PredictionRecord(p.predEnc, &pred, r, topic)
			if err != nil {
				send(producer.DeadLetterRecord(r, p.cfg.DLQTopic, producer.StageProduce, err))
				dead++
				continue
			}
			send(rec)
			p.predCounter(r.Topic, s.Info().Name).Inc()
			preds++
		}
	}
	return preds, dead
}
