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
		kgo.FetchMaxBytes(fetchMaxBytes(p.cfg)), kgo.MaxConcurrentFetches(2),
	)
	if p.cfg.GroupInstanceID != "" {
		opts = append(opts, kgo.InstanceID(p.cfg.GroupInstanceID))
	}
	return kgo.NewGroupTransactSession(opts...)
}

// eosState is what exactly-once keeps from one transaction to the next.
type eosState struct {
	// refused holds the source records whose prediction the broker refused
	// (too large, say) in an aborted transaction: when they are fetched
	// again, each becomes a dead letter with stage produce instead of
	// aborting every attempt.
	refused map[srcKey]error
	aborts  int // consecutive aborted transactions, for backoff
}

type srcKey struct {
	topic     string
	partition int32
	offset    int64
}

func keyOf(r *kgo.Record) srcKey { return srcKey{r.Topic, r.Partition, r.Offset} }

// txnCondition is the readiness condition of transactions that keep
// aborting (three or more in a row), cleared by the next commit.
const txnCondition = "client/txn"

// maxRefused bounds the refused set (entries of partitions since revoked
// are never fetched again here); past it the set restarts empty, which
// costs at most one more aborted transaction per refused record.
const maxRefused = 10_000

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
				p.fetchError(t, part, err)
			}
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := p.transact(ctx, recs); err != nil {
			return err
		}
	}
	p.log.Info("stopped", "consumed", p.stats.Consumed.Load(), "predictions", p.stats.Predictions.Load(),
		"dead_letters", p.stats.DeadLetters.Load())
	return nil
}

// transact scores one poll's records in one transaction. After an abort
// it backs off (100ms doubling to 5s) before the records are fetched again.
func (p *Pipeline) transact(ctx context.Context, recs []*kgo.Record) error {
	if err := p.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		refused  = map[srcKey]error{}
	)
	cl := p.sess.Client()
	send := func(out, src *kgo.Record) {
		wg.Add(1)
		cl.Produce(context.Background(), out, func(_ *kgo.Record, err error) {
			if err != nil {
				p.produceError(out.Topic, err)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				if producer.Refused(err) {
					refused[keyOf(src)] = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	t := p.scoreRecords(recs, send)
	wg.Wait()
	if t.unavailable != nil {
		p.registryDown(t.unavailable)
		if firstErr == nil {
			firstErr = t.unavailable
		}
	} else {
		p.health.clear(registryCondition)
	}
	ectx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	committed, err := p.sess.End(ectx, kgo.TransactionEndTry(firstErr == nil))
	if err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		p.abortBackoff(ctx, len(recs), firstErr, refused)
		return nil
	}
	if p.eos.aborts > 0 {
		p.eos.aborts = 0
		p.health.clear(txnCondition)
	}
	if len(p.eos.refused) > 0 {
		for _, r := range recs {
			delete(p.eos.refused, keyOf(r))
		}
	}
	preds, dead := t.count()
	p.stats.Consumed.Add(int64(len(recs)))
	p.stats.Predictions.Add(int64(preds))
	p.stats.DeadLetters.Add(int64(dead))
	for k, n := range t.preds {
		p.predCounter(k[0], k[1]).Add(float64(n))
	}
	for stage, n := range t.dead {
		p.deadCounter(stage).Add(float64(n))
	}
	for _, r := range recs {
		p.consumed[r.Topic].Inc()
	}
	p.obs.BatchDone(time.Now())
	return nil
}

// abortBackoff remembers the records the broker refused, logs the abort and
// waits before the records are fetched again.
func (p *Pipeline) abortBackoff(ctx context.Context, n int, produceErr error, refused map[srcKey]error) {
	if p.eos.refused == nil || len(p.eos.refused) > maxRefused {
		p.eos.refused = map[srcKey]error{}
	}
	for k, err := range refused {
		p.eos.refused[k] = err
	}
	p.eos.aborts++
	if p.eos.aborts >= 3 {
		p.health.report(txnCondition, fmt.Sprintf("transactions keep aborting (%d in a row; last produce error: %v); the input offsets do not advance",
			p.eos.aborts, produceErr), true)
	}
	wait := min(100*time.Millisecond<<min(p.eos.aborts-1, 6), 5*time.Second)
	p.log.Warn("transaction aborted; its records will be fetched and scored again", "records", n,
		"refused_by_broker", len(refused), "produce_err", produceErr, "consecutive_aborts", p.eos.aborts, "backoff", wait)
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
}

// tally counts a transaction's outputs; they are added to the metrics
// only if it commits.
type tally struct {
	preds map[[2]string]int // topic, model
	dead  map[string]int    // stage
	// unavailable is set when a record could not be decoded because the
	// schema registry did not answer: the transaction must abort.
	unavailable error
}

func (t tally) count() (preds, dead int) {
	for _, n := range t.preds {
		preds += n
	}
	for _, n := range t.dead {
		dead += n
	}
	return preds, dead
}

// scoreRecords decodes and scores records model by model and hands the
// prediction and dead-letter records to send; it returns their tally.
func (p *Pipeline) scoreRecords(recs []*kgo.Record, send func(out, src *kgo.Record)) tally {
	t := tally{preds: map[[2]string]int{}, dead: map[string]int{}}
	deadLetter := func(r *kgo.Record, stage string, err error) {
		send(producer.DeadLetterRecord(r, p.cfg.DLQTopic, stage, err), r)
		t.dead[stage]++
	}
	evs := make([]schemas.Event, len(recs))
	ok := make([]bool, len(recs))
	for i, r := range recs {
		if err := p.decoders[r.Topic].Decode(r.Value, &evs[i]); err != nil {
			if errors.Is(err, schemas.ErrUnavailable) {
				t.unavailable = err
				continue
			}
			deadLetter(r, producer.StageDecode, err)
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
				deadLetter(r, res.Stage, res.Err)
				continue
			}
			if err, ok := p.eos.refused[keyOf(r)]; ok {
				deadLetter(r, producer.StageProduce, err)
				continue
			}
			pred := s.Prediction(group[k], res, schemas.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, at)
			rec, err := producer.PredictionRecord(p.predEnc, &pred, r, topic)
			if err != nil {
				deadLetter(r, producer.StageProduce, err)
				continue
			}
			send(rec, r)
			t.preds[[2]string{r.Topic, s.Info().Name}]++
		}
	}
	return t
}
