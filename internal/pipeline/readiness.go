package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// registryCondition is the readiness condition of records that wait
// because the schema registry does not answer.
const registryCondition = "client/registry"

// pingBroker checks every few seconds that the brokers answer, for
// readiness.
func (p *Pipeline) pingBroker(stop <-chan struct{}) {
	t := time.NewTicker(p.ping)
	defer t.Stop()
	stopped, cancelAll := context.WithCancel(context.Background()) // a ping in progress ends with the stop
	defer cancelAll()
	go func() {
		select {
		case <-stop:
			cancelAll()
		case <-stopped.Done():
		}
	}()
	for {
		ctx, cancel := context.WithTimeout(stopped, min(3*time.Second, p.ping))
		err := p.current().client().Ping(ctx)
		cancel()
		if stopped.Err() != nil {
			return
		}
		if err != nil {
			msg := "brokers unreachable: " + err.Error()
			if p.ready.Swap(&msg) == nil {
				p.log.Error("not ready: " + msg)
			}
		} else {
			if p.ready.Swap(nil) != nil {
				p.log.Info("brokers answer")
			}
			p.recheckTopics(stopped)
			p.checkProgress(stopped)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// checkProgress tells the progress check what the member owns and logs
// the stalls it finds.
func (p *Pipeline) checkProgress(parent context.Context) {
	var started, ended string
	rn := p.current()
	if rn.assigned() == 0 || rn.rebuilding() > 0 {
		ended = p.progress.disarm()
	} else {
		ctx, cancel := context.WithTimeout(parent, min(3*time.Second, p.ping))
		cl := rn.client()
		started, ended = p.progress.check(ctx, brokerOffsets{cl: cl, group: p.cfg.GroupID}, p.watch.consumed(),
			rn.owns, pausedNow(cl), p.ping)
		cancel()
	}
	if started != "" {
		p.log.Error("not ready: " + started)
	}
	if ended != "" {
		p.log.Info("consuming again", "was", ended)
	}
}

// recheckTopics asks the brokers for every topic read or written: a topic
// deleted while running, or one the principal may no longer describe,
// makes the service unready until it is back.
func (p *Pipeline) recheckTopics(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, min(3*time.Second, p.ping))
	defer cancel()
	details, err := kadm.NewClient(p.current().client()).ListTopics(ctx, p.topics...)
	if err != nil {
		return // the next ping tells whether the brokers answer
	}
	for _, t := range p.topics {
		d, ok := details[t]
		exists := ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition)
		p.health.checkTopic(t, exists, d.Err)
	}
}

// produceError is told every error the producer sees: authorization and
// missing-topic errors become readiness conditions, and so does any other
// failure to write a dead letter or prediction (its partition's offset
// cannot advance while it is held).
func (p *Pipeline) produceError(topic string, err error) {
	if errors.Is(err, kerr.UnknownTopicID) { // an output topic deleted, maybe recreated: followed, not a restart
		p.health.report("client/topic/"+topic, fmt.Sprintf("topic %q was deleted (%v); its outputs are held and written once it exists again", topic, err), false)
		return
	}
	if p.health.clientError(topic, err) {
		return
	}
	key, what := "client/produce/"+topic, "predictions"
	if topic == p.cfg.DLQTopic {
		key, what = "client/dlq", "dead letters"
	}
	p.health.report(key, fmt.Sprintf("%s cannot be written to %q (%v); they are held and retried, and the offsets of their partitions do not advance", what, topic, err), false)
}

// fetchError is told the errors returned to polls: authorization and
// missing-topic errors become readiness conditions, others are logged.
func (p *Pipeline) fetchError(topic string, partition int32, err error) {
	if !p.health.clientError(topic, err) {
		p.log.Warn("fetch error; retrying", "topic", topic, "partition", partition, "err", err)
	}
}

func (p *Pipeline) registryDown(err error) {
	p.health.report(registryCondition, fmt.Sprintf("cannot decode: %v; records wait (they are not dead-lettered)", err), true)
}

// Ready reports whether the service can score: a model is loaded (always,
// once New succeeded), the brokers answer, every topic exists and is
// authorized, nothing waits for a broken destination, and partitions are
// assigned. The reason says what is missing.
func (p *Pipeline) Ready() (bool, string) {
	if msg := p.ready.Load(); msg != nil {
		return false, *msg
	}
	if msg := p.health.unready(); msg != "" {
		return false, msg
	}
	if p.current().assigned() == 0 {
		return false, "no partitions assigned (yet, or more members than partitions)"
	}
	if msg := p.progress.stalled(); msg != "" {
		return false, msg
	}
	if n := p.current().rebuilding(); n > 0 {
		return false, fmt.Sprintf("rebuilding the entity state of newly assigned partitions (%d rebuilds in progress); their records wait", n)
	}
	return true, "ok"
}
