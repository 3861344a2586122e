package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// counters resolves a lane's metric series once per label set: the lane
// looks them up in its own maps (no lock), the registry only the first
// time.
type counters struct {
	p      *Pipeline
	preds  map[predKey]prometheus.Counter
	dead   map[string]prometheus.Counter
	scores map[*scoring.Scorer]prometheus.Observer
}

type predKey struct {
	topic string
	s     *scoring.Scorer
}

func newCounters(p *Pipeline) counters {
	return counters{p: p, preds: map[predKey]prometheus.Counter{}, dead: map[string]prometheus.Counter{},
		scores: map[*scoring.Scorer]prometheus.Observer{}}
}

func (c *counters) prediction(topic string, s *scoring.Scorer) prometheus.Counter {
	k := predKey{topic, s}
	ctr, ok := c.preds[k]
	if !ok {
		if len(c.preds) > 64 { // scorers reloaded away
			clear(c.preds)
		}
		ctr = c.p.obs.Predictions.WithLabelValues(topic, s.Info().Name)
		c.preds[k] = ctr
	}
	return ctr
}

func (c *counters) deadLetter(stage string) prometheus.Counter {
	ctr, ok := c.dead[stage]
	if !ok {
		ctr = c.p.obs.DeadLetters.WithLabelValues(stage)
		c.dead[stage] = ctr
	}
	return ctr
}

func (c *counters) score(s *scoring.Scorer) prometheus.Observer {
	o, ok := c.scores[s]
	if !ok {
		if len(c.scores) > 64 {
			clear(c.scores)
		}
		o = c.p.obs.Scores.WithLabelValues(s.Info().Name)
		c.scores[s] = o
	}
	return o
}

// aloSink is a lane's sink under at-least-once: it produces with the
// lane's Sender, and every answer acknowledges the record's token.
type aloSink struct {
	a  *atLeastOnce
	s  *producer.Sender[ackRef]
	sh *producer.ShadowSender[*modelset.Route]
	counters
}

func (a *atLeastOnce) newSink(int32) lane.Sink[ackRef] {
	k := &aloSink{a: a, counters: newCounters(a.p)}
	k.s = producer.NewSender(a.prod, a.acked)
	k.sh = producer.NewShadowSender(a.prod, func(r *modelset.Route, topic string, err error) { a.p.watch.written(r, 1, topic, err) })
	return k
}

// Settle acknowledges a label record: it needs no output.
func (k *aloSink) Settle(rec *kgo.Record, ref ackRef) {
	ref.tok.Ack()
	k.a.inBytes.Add(-recordBytes(rec))
}

// Shadow publishes a challenger's prediction at most once, without
// waiting: it is not tracked, so the champion's acknowledgements and
// commits never wait for it.
func (k *aloSink) Shadow(it *lane.Item[ackRef], route *modelset.Route, pred *schemas.Prediction, topic string) {
	if err := k.sh.Prediction(pred, it.Kafka, topic, route); err != nil {
		k.a.p.watch.written(route, 1, topic, err)
	}
}

func (k *aloSink) Prediction(it *lane.Item[ackRef], pred *schemas.Prediction, topic string) {
	ref := it.Ref
	ref.pred = k.prediction(it.Topic, it.Scorer)
	k.score(it.Scorer).Observe(pred.Score)
	k.s.Prediction(pred, it.Kafka, topic, ref)
}

func (k *aloSink) DeadLetter(it *lane.Item[ackRef], stage string, err error) {
	k.a.p.log.Debug("dead letter", "stage", stage, "topic", it.Kafka.Topic, "partition", it.Kafka.Partition, "offset", it.Kafka.Offset, "err", err)
	ref := it.Ref
	ref.dead = k.deadLetter(stage)
	k.s.DeadLetter(it.Kafka, stage, err, ref)
}

// Abandon untracks a record the lane gave up at a revoke or a stop (it
// waited for the schema registry, or for a partition the event-time merge
// waits for): its partition's new owner (or the next run) reads it again.
func (k *aloSink) Abandon(rec *kgo.Record, ref ackRef) {
	k.a.group.Tracker().Forget(ref.tok)
	k.a.inBytes.Add(-recordBytes(rec))
}

// acked runs in producer callbacks: the record is done.
func (a *atLeastOnce) acked(ref ackRef, res producer.Result) {
	ref.tok.Ack()
	a.inBytes.Add(-recordBytes(ref.rec))
	switch {
	case res == producer.Predicted:
		a.p.stats.Predictions.Add(1)
		ref.pred.Inc()
	case ref.dead != nil:
		a.p.stats.DeadLetters.Add(1)
		ref.dead.Inc()
	default: // a prediction the broker refused: its dead letter
		a.p.stats.DeadLetters.Add(1)
		a.produce.Inc()
	}
	e2e := time.Since(ref.rec.Timestamp)
	a.p.stats.Latency.Observe(e2e)
	a.p.obs.EndToEnd.Observe(e2e.Seconds())
}
