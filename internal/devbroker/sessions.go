package devbroker

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// Cluster is a started dev broker: the kfake cluster and the session
// watchdog that runs beside it. Close stops both.
type Cluster struct {
	*kfake.Cluster
	watch *sessionWatch
}

// Close stops the session watchdog and shuts down the cluster. It is
// idempotent. (c.Cluster.Close alone would leave the watchdog running.)
func (c *Cluster) Close() {
	c.watch.close()
	c.Cluster.Close()
}

// SessionExpiries reports how many silent group members the session
// watchdog has removed.
func (c *Cluster) SessionExpiries() int64 { return c.watch.removed.Load() }

// The session watchdog gives classic-protocol group members the session
// expiry Kafka gives them. kfake arms a member's session timer when it
// delivers the JoinGroup answer; when the member's connection is already
// gone (a consumer killed while its JoinGroup waited for the rebalance),
// the member may enter the next generation with no timer at all, and in a
// Stable group nothing removes it: it keeps its partitions while nobody
// consumes them. Kafka arms every member's expiry when the join completes.
//
// The watchdog only observes requests (control functions that never handle
// one) and notes, per group and member, when the member was last heard
// from, whether that was a JoinGroup or SyncGroup (the member may be
// blocked in it, waiting for the broker's answer, and a live member waiting
// there does not heartbeat), and its session and rebalance timeouts. A
// member is expired when it has been silent longer than its session
// timeout after a Heartbeat or OffsetCommit, or longer than its rebalance
// timeout plus its session timeout after a JoinGroup or SyncGroup (a live
// member's join or sync is answered within the rebalance timeout, or the
// client gives up and sends a new one: the watchdog never takes a member
// that is waiting for an answer for dead). An expired member is checked
// against DescribeGroups; if it is still in its group, the watchdog sends
// the LeaveGroup (by member id) the dead client never will.
//
// Members are removed in PreparingRebalance as well as in Stable groups:
// a timer that kfake did arm for another dead member starts a rebalance,
// which then waits out the rebalance timeout (restarted at each further
// expiry) for the timerless member that will never rejoin; the live
// member's JoinGroup can time out meanwhile and rejoin as a new member.
// Kafka removes such a member at its session expiry, completing the join.
// In CompletingRebalance kfake's own sync deadline removes who does not
// sync. Only members that sent a JoinGroup with their member id are
// tracked (the second join of a dynamic member; a static member's first
// join is answered with its id and is tracked from its next join).
type sessionWatch struct {
	mu     sync.Mutex
	groups map[string]*watchedGroup

	newClient func() (*kgo.Client, error)
	every     time.Duration
	removed   atomic.Int64

	logf    func(format string, args ...any) // nil: silent
	lastErr string                           // the last failure reported (run's goroutine only)

	ctx  context.Context // cancelled by stop: ends run and its requests
	stop context.CancelFunc
	done chan struct{} // closed when run has returned
}

type watchedGroup struct {
	members map[string]*watchedMember
}

type watchedMember struct {
	heard     time.Time // last request of any observed kind
	waiting   bool      // that request was a JoinGroup or SyncGroup
	session   time.Duration
	rebalance time.Duration
	instance  *string
}

// observedKeys are the requests that tell the watchdog a member is alive.
var observedKeys = []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup, kmsg.OffsetCommit}

// watchSessions starts the watchdog on c. The client it uses to describe
// groups and remove members connects only when a member looks expired.
func watchSessions(c *kfake.Cluster, tlsOn bool, user, pass string, every time.Duration, logf func(string, ...any)) *sessionWatch {
	addrs := c.ListenAddrs()
	w := &sessionWatch{
		logf:   logf,
		groups: make(map[string]*watchedGroup),
		every:  every,
		done:   make(chan struct{}),
		newClient: func() (*kgo.Client, error) {
			opts := []kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ClientID("devbroker-session-watchdog")}
			if user != "" {
				opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
			}
			if tlsOn {
				// our own broker, in this process
				opts = append(opts, kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec
			}
			return kgo.NewClient(opts...)
		},
	}
	for _, k := range observedKeys {
		// Control functions run one at a time while kfake's loop waits
		// for them; this one only takes w.mu briefly and never handles
		// the request, so kfake keeps it and answers as usual.
		c.ControlKey(int16(k), func(req kmsg.Request) (kmsg.Response, error, bool) {
			w.observe(req, time.Now())
			return nil, nil, false
		})
	}
	w.ctx, w.stop = context.WithCancel(context.Background())
	go w.run()
	return w
}

// close stops the watchdog and waits for it (idempotent).
func (w *sessionWatch) close() {
	w.stop()
	<-w.done
}

func (w *sessionWatch) group(name string) *watchedGroup {
	g := w.groups[name]
	if g == nil {
		g = &watchedGroup{members: make(map[string]*watchedMember)}
		w.groups[name] = g
	}
	return g
}

// heard notes that member of g spoke at now, waiting for the answer or
// not; a member not yet seen in a JoinGroup (whose timeouts are unknown) is
// not tracked.
func (g *watchedGroup) heard(member string, now time.Time, waiting bool) {
	if m := g.members[member]; m != nil {
		m.heard, m.waiting = now, waiting
	}
}

func (w *sessionWatch) observe(req kmsg.Request, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		if r.MemberID != "" {
			w.group(r.Group).members[r.MemberID] = &watchedMember{
				heard:     now,
				waiting:   true,
				session:   time.Duration(r.SessionTimeoutMillis) * time.Millisecond,
				rebalance: time.Duration(r.RebalanceTimeoutMillis) * time.Millisecond,
				instance:  r.InstanceID,
			}
		}
	case *kmsg.SyncGroupRequest:
		if g := w.groups[r.Group]; g != nil {
			g.heard(r.MemberID, now, true)
		}
	case *kmsg.HeartbeatRequest:
		if g := w.groups[r.Group]; g != nil {
			g.heard(r.MemberID, now, false)
		}
	case *kmsg.OffsetCommitRequest:
		if g := w.groups[r.Group]; g != nil {
			g.heard(r.MemberID, now, false)
		}
	case *kmsg.LeaveGroupRequest:
		g := w.groups[r.Group]
		if g == nil {
			return
		}
		if r.Version < 3 {
			delete(g.members, r.MemberID)
			return
		}
		for _, lm := range r.Members {
			delete(g.members, lm.MemberID)
			if lm.InstanceID != nil {
				for id, m := range g.members {
					if m.instance != nil && *m.instance == *lm.InstanceID {
						delete(g.members, id)
					}
				}
			}
		}
	}
}

// expired lists, per group, the members silent past their session timeout
// at now.
func (w *sessionWatch) expired(now time.Time) map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out map[string][]string
	for name, g := range w.groups {
		if len(g.members) == 0 {
			delete(w.groups, name)
			continue
		}
		for id, m := range g.members {
			if m.expired(now) {
				if out == nil {
					out = make(map[string][]string)
				}
				out[name] = append(out[name], id)
			}
		}
	}
	return out
}

// expired reports whether m has been silent at now past what a live
// member can be (see sessionWatch).
func (m *watchedMember) expired(now time.Time) bool {
	limit := m.session
	if m.waiting {
		limit += m.rebalance
	}
	return now.Sub(m.heard) > limit
}

func (w *sessionWatch) run() {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
		cand := w.expired(time.Now())
		if len(cand) == 0 {
			continue
		}
		if cl == nil {
			var err error
			if cl, err = w.newClient(); err != nil {
				cl = nil
				w.failed("create its client: %v", err)
				continue
			}
		}
		w.expire(w.ctx, cl, cand)
	}
}

// liveState are the classic group states in which the watchdog removes
// expired members.
var liveState = map[string]bool{"Stable": true, "PreparingRebalance": true}

// expire removes the candidates that DescribeGroups shows still in their
// group (Stable, or in a rebalance), and forgets those no longer there.
func (w *sessionWatch) expire(ctx context.Context, cl *kgo.Client, cand map[string][]string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dreq := kmsg.NewPtrDescribeGroupsRequest()
	for g := range cand {
		dreq.Groups = append(dreq.Groups, g)
	}
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		w.failed("describe groups: %v", err)
		return
	}
	for _, dg := range dresp.Groups {
		if dg.ErrorCode == kerr.GroupIDNotFound.Code || dg.State == "Dead" {
			w.mu.Lock()
			delete(w.groups, dg.Group) // deleted: nobody left to remove
			w.mu.Unlock()
			continue
		}
		if dg.ErrorCode != 0 {
			continue
		}
		in := make(map[string]bool, len(dg.Members))
		for _, m := range dg.Members {
			in[m.MemberID] = true
		}
		var leave []kmsg.LeaveGroupRequestMember
		w.mu.Lock()
		g := w.groups[dg.Group]
		for _, id := range cand[dg.Group] {
			var m *watchedMember
			if g != nil {
				m = g.members[id]
			}
			switch {
			case m == nil:
			case !in[id]:
				delete(g.members, id) // kfake removed it itself
			case liveState[dg.State] && m.expired(time.Now()):
				// by member id alone: kfake resolves an instance id to
				// whichever member holds it now, maybe a new, live one
				lm := kmsg.NewLeaveGroupRequestMember()
				lm.MemberID = id
				reason := "session timeout (devbroker session watchdog)"
				lm.Reason = &reason
				leave = append(leave, lm)
			}
		}
		w.mu.Unlock()
		if len(leave) == 0 {
			continue
		}
		lreq := kmsg.NewPtrLeaveGroupRequest()
		lreq.Group, lreq.Members = dg.Group, leave
		lresp, err := lreq.RequestWith(ctx, cl)
		if err != nil {
			w.failed("remove expired members of group %q: %v", dg.Group, err)
			continue
		}
		for _, m := range lresp.Members {
			if err := kerr.ErrorForCode(m.ErrorCode); err != nil {
				w.failed("remove expired member %q of group %q: %v", m.MemberID, dg.Group, err)
				continue
			}
			w.removed.Add(1)
		}
	}
}

// failed reports a failure of the watchdog's own requests, once until a
// different one happens: it retries every tick, and a broker it cannot
// reach must not flood the log.
func (w *sessionWatch) failed(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if w.logf == nil || msg == w.lastErr {
		return
	}
	w.lastErr = msg
	w.logf("session watchdog: %s", msg)
}
