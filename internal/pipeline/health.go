package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// health holds the conditions, besides an unanswered broker ping, that
// make the service unready: a topic deleted or not authorized (seen by the
// periodic metadata check, and lasting until the check passes), and
// authorization or missing-topic errors returned to fetches, commits and
// produces (lasting while they recur, and hold after the last one). Each
// condition is logged at error level when it starts, again every
// relogEvery while it lasts, and at info level when it ends. Safe for
// concurrent use.
type health struct {
	log   *slog.Logger
	hold  time.Duration
	now   func() time.Time
	mu    sync.Mutex
	conds map[string]*condition
}

type condition struct {
	msg    string
	sticky bool // ended by clear only (metadata check), not by time
	since  time.Time
	last   time.Time
	logged time.Time
}

const relogEvery = time.Minute

func newHealth(log *slog.Logger, hold time.Duration) *health {
	return &health{log: log, hold: hold, now: time.Now, conds: map[string]*condition{}}
}

// report starts or refreshes the condition key.
func (h *health) report(key, msg string, sticky bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	c := h.conds[key]
	if c == nil {
		c = &condition{since: now}
		h.conds[key] = c
	}
	c.msg, c.sticky, c.last = msg, sticky, now
	if c.logged.IsZero() || now.Sub(c.logged) >= relogEvery {
		h.log.Error("not ready: "+msg, "since", c.since.Format(time.RFC3339))
		c.logged = now
	}
}

// clear ends the condition key, if present.
func (h *health) clear(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.conds[key]; c != nil {
		delete(h.conds, key)
		h.log.Info("recovered: "+c.msg, "after", h.now().Sub(c.since).Round(time.Millisecond))
	}
}

// unready returns the current conditions, joined, or "" when there are
// none. Conditions reported by client errors that have not recurred within
// hold end here.
func (h *health) unready() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	var msgs []string
	for key, c := range h.conds {
		if !c.sticky && now.Sub(c.last) > h.hold {
			delete(h.conds, key)
			h.log.Info("recovered: "+c.msg, "after", c.last.Sub(c.since).Round(time.Millisecond))
			continue
		}
		msgs = append(msgs, c.msg)
	}
	sort.Strings(msgs)
	return strings.Join(msgs, "; ")
}

// clientError turns an error returned to a fetch, commit or produce into a
// condition when it is one an operator must fix (authorization, a missing
// topic); it reports whether it was.
func (h *health) clientError(topic string, err error) bool {
	key, msg, ok := classify(topic, err)
	if ok {
		h.report("client/"+key, msg, false)
	}
	return ok
}

// classify names the errors that do not heal by retrying.
func classify(topic string, err error) (key, msg string, ok bool) {
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return "auth/topic/" + topic, fmt.Sprintf("not authorized for topic %q (%v); check the principal's ACLs", topic, err), true
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return "auth/group", fmt.Sprintf("not authorized for the consumer group (%v); check the principal's ACLs for KAFKA_GROUP_ID", err), true
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return "auth/txn", fmt.Sprintf("not authorized for the transactional id (%v); check the principal's ACLs for KAFKA_TRANSACTIONAL_ID", err), true
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return "auth/cluster", fmt.Sprintf("not authorized for the cluster (%v); check the principal's ACLs", err), true
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return "auth/sasl", fmt.Sprintf("Kafka authentication failed (%v); check KAFKA_SASL_USERNAME and the password", err), true
	case errors.Is(err, kerr.UnknownTopicID):
		// franz-go never follows a topic recreated under the same name
		// (its README, "Topic recreation"); a new client does.
		return "topic/" + topic, fmt.Sprintf("topic %q was deleted; if it was recreated, restart streamscore to consume the new topic (%v)", topic, err), true
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return "topic/" + topic, fmt.Sprintf("topic %q does not exist (deleted while running?) (%v)", topic, err), true
	}
	return "", "", false
}

// checkTopic records the metadata check's verdict on one topic: err is nil
// when the topic exists and may be described.
func (h *health) checkTopic(topic string, exists bool, err error) {
	key := "meta/topic/" + topic
	switch {
	case !exists:
		h.report(key, fmt.Sprintf("topic %q does not exist (deleted while running?)", topic), true)
	case err != nil:
		if _, msg, ok := classify(topic, err); ok {
			h.report(key, msg, true)
		} // other errors are transient: the verdict stands until the next check
	default:
		h.clear(key)
	}
}
