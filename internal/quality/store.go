package quality

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/streamscore/streamscore/internal/rolling"
)

// Windows are the rolling windows of the quality measures, with the names
// used as metric labels.
var windows = [...]struct {
	name string
	span time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}

// WindowNames are the names of the rolling windows, shortest first.
func WindowNames() []string {
	out := make([]string, len(windows))
	for i, w := range windows {
		out[i] = w.name
	}
	return out
}

// longest is the span of the longest window.
var longest = windows[len(windows)-1].span.Milliseconds()

// Outcome is what Label did with a label.
type Outcome int

// Outcomes of Label. Every label ends in exactly one of Joined,
// JoinedPending, Duplicate, Expired, Unknown or Invalid; a Pending label
// becomes JoinedPending or Unknown later (counted in Counts, not returned).
const (
	// Joined: the label joined the predictions of its event (one per model
	// and version that scored it).
	Joined Outcome = iota
	// Pending: no prediction of the event is known yet (a label can
	// overtake its prediction); it is kept for Options.PendingFor and joins
	// the prediction if that arrives in time.
	Pending
	// Duplicate: the event's predictions already have a label; the first
	// label wins and this one is ignored (also when its value differs).
	Duplicate
	// Expired: the event's predictions were dropped: older than
	// LabelWindow, or evicted by MaxPredictions.
	Expired
	// Invalid: the label is neither 0 nor 1.
	Invalid
	// Unknown is never returned by Label: it counts pending labels whose
	// prediction did not arrive within PendingFor (an event this service
	// did not score, or one that expired longer ago than it remembers).
	Unknown
	// JoinedPending is never returned by Label: it counts pending labels
	// that joined their prediction when it arrived.
	JoinedPending
)

var outcomeNames = [...]string{"joined", "pending", "duplicate", "expired", "invalid", "unknown", "joined_pending"}

// String is the outcome's name, as used in the result label of
// streamscore_labels_total.
func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
	return outcomeNames[o]
}

// Options configure a Store.
type Options struct {
	// LabelWindow is how long a prediction is kept for its label
	// (LABEL_WINDOW). Required.
	LabelWindow time.Duration
	// PendingFor is how long a label whose prediction is not known yet is
	// kept (default 10 minutes).
	PendingFor time.Duration
	// MaxPredictions bounds the predictions kept (default 1,000,000): when
	// it is reached the oldest prediction is dropped before its
	// LabelWindow is over (counted as EvictedPredictions; a later label for
	// it is Expired).
	MaxPredictions int
	// MaxPending bounds the pending labels (default 100,000); the oldest
	// is counted Unknown to make room.
	MaxPending int
	// MaxPairs bounds the joined pairs kept per model and version for the
	// longest window (default 1,000,000); the oldest are dropped first
	// (counted as EvictedPairs; the windows they were in are then
	// Truncated).
	MaxPairs int
}

// ErrOptions is wrapped by New's error for options it cannot work with.
var ErrOptions = errors.New("quality: bad options")

func (o *Options) fill() error {
	if o.LabelWindow <= 0 {
		return fmt.Errorf("%w: LabelWindow %v: want a positive duration", ErrOptions, o.LabelWindow)
	}
	if o.PendingFor < 0 || o.MaxPredictions < 0 || o.MaxPending < 0 || o.MaxPairs < 0 {
		return fmt.Errorf("%w: negative PendingFor, MaxPredictions, MaxPending or MaxPairs", ErrOptions)
	}
	if o.PendingFor == 0 {
		o.PendingFor = 10 * time.Minute
	}
	if o.MaxPredictions == 0 {
		o.MaxPredictions = 1_000_000
	}
	if o.MaxPending == 0 {
		o.MaxPending = 100_000
	}
	if o.MaxPairs == 0 {
		o.MaxPairs = 1_000_000
	}
	return nil
}

// Counts are a Store's cumulative counters (and two gauges: Pending, Kept).
type Counts struct {
	Predictions          uint64 // predictions recorded
	DuplicatePredictions uint64 // a second prediction of an event by the same model and version (a redelivered record): ignored
	EvictedPredictions   uint64 // dropped before LabelWindow because MaxPredictions was reached
	EvictedPairs         uint64 // joined pairs dropped because MaxPairs was reached
	// Labels by final outcome (index: Outcome; Pending stays 0, see Pending).
	Labels  [len(outcomeNames)]uint64
	Pending int // labels waiting for their prediction now
	Kept    int // predictions kept now
}

func (c *Counts) add(o *Counts) {
	c.Predictions += o.Predictions
	c.DuplicatePredictions += o.DuplicatePredictions
	c.EvictedPredictions += o.EvictedPredictions
	c.EvictedPairs += o.EvictedPairs
	for i := range c.Labels {
		c.Labels[i] += o.Labels[i]
	}
	c.Pending += o.Pending
	c.Kept += o.Kept
}

// prediction is what is kept of one prediction (see the package doc for
// its size).
type prediction struct {
	id     key     // the event id's 128-bit hash
	at     int64   // unix ms
	score  float64 // the published score
	next   uint64  // sequence number + 1 of the next prediction of the same event; 0: none
	series uint32
	label  int8 // -1 until labelled
}

// pair is one joined prediction in time order: at<<1 | label, and the score.
type pair struct {
	atLabel int64
	score   float64
}

func (p pair) at() int64 { return p.atLabel >> 1 }

// series is the state of one model and version.
type series struct {
	model, version string
	kept           int    // predictions kept
	pairs          []pair // ring, in join order
	head, n        int
	truncatedTo    int64 // newest join time among evicted pairs (0: none)
	// joins[w] counts per step of prediction time: [0] predictions made,
	// [1] those of them labelled since.
	joins [len(windows)]*rolling.Window
}

type seriesKey struct{ model, version string }

type pendingLabel struct {
	at    int64
	label int8
}

type queued struct {
	id key
	at int64
}

// key is a 128-bit hash of an event id (two 64-bit maphashes with
// independent seeds). The store keeps no strings: the caller's id may
// live in a reused buffer (schemas.Event's arena), and a hash costs no
// allocation and no GC scanning. Two ids collide with probability about
// n²/2¹²⁹ for n kept ids (10⁻²⁷ at a million).
type key [2]uint64

// Store joins the labels of one lane to the predictions the lane made. It
// is safe for concurrent use: the lane records predictions and labels
// while a scrape takes a snapshot (one mutex per Store, never shared
// between lanes).
type Store struct {
	mu   sync.Mutex
	opts Options
	wm   int64 // watermark: the newest time seen (unix ms)

	ring        []prediction // ring of kept predictions by sequence number
	first, end  uint64       // sequence numbers of the oldest kept and of the next
	byID        map[key]uint64
	seriesIdx   map[seriesKey]uint32
	series      []*series
	pending     map[key]pendingLabel
	queue       []queued // pending labels in arrival order (stale entries skipped)
	qhead       int
	seeds       [2]maphash.Seed
	expired     [2]map[key]struct{} // expired event ids: this and the previous generation
	nextRotate  int64
	counts      Counts
	labelWindow int64
	pendingFor  int64
}

// New returns an empty store.
func New(o Options) (*Store, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	return newStore(o, newSeeds()), nil
}

func newStore(o Options, seeds [2]maphash.Seed) *Store {
	s := &Store{opts: o, labelWindow: o.LabelWindow.Milliseconds(), pendingFor: o.PendingFor.Milliseconds(), seeds: seeds}
	s.reset()
	return s
}

func (s *Store) reset() {
	s.wm = 0
	s.ring, s.first, s.end = make([]prediction, min(1024, s.opts.MaxPredictions)), 0, 0
	s.byID = map[key]uint64{}
	s.seriesIdx = map[seriesKey]uint32{}
	s.series = nil
	s.pending = map[key]pendingLabel{}
	s.queue, s.qhead = nil, 0
	s.expired = [2]map[key]struct{}{{}, {}}
	s.nextRotate = 0
	s.counts = Counts{}
}

// Reset drops every prediction, label, pair and count: the lane's state
// after a revoke, before it is rebuilt.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
}

// Prediction records a prediction of event eventID by a model and version
// with its published score, made at time at. Times are the records' own
// (Kafka record timestamps), not the wall clock, so that replaying the
// records rebuilds the same state; the store's clock is the newest time
// it has seen. A prediction the store already holds for the event by the
// same model and version is ignored (a redelivered record). If a label
// for the event is pending, or another model or version's prediction of
// the event already has its label, the prediction joins it at once.
func (s *Store) Prediction(eventID, model, version string, score float64, at time.Time) {
	id := s.key(eventID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prediction(id, model, version, score, at.UnixMilli())
}

func (s *Store) prediction(id key, model, version string, score float64, t int64) {
	s.advance(t)
	sid := s.seriesFor(model, version)
	label := int8(-1)
	last := uint64(0) // sequence number + 1 of the chain's last prediction
	if seq, ok := s.byID[id]; ok {
		for {
			p := &s.ring[seq%uint64(len(s.ring))]
			if p.series == sid {
				s.counts.DuplicatePredictions++
				return
			}
			if p.label >= 0 {
				label = p.label
			}
			if p.next == 0 {
				last = seq + 1
				break
			}
			seq = p.next - 1
		}
	}
	if s.end-s.first == uint64(s.opts.MaxPredictions) {
		s.counts.EvictedPredictions++
		s.expireHead()
		if last != 0 && last-1 < s.first { // the evicted one was the chain
			last = 0
		}
	}
	s.grow()
	seq := s.end
	s.end++
	p := &s.ring[seq%uint64(len(s.ring))]
	*p = prediction{id: id, at: t, score: score, series: sid, label: -1}
	if last != 0 {
		s.ring[(last-1)%uint64(len(s.ring))].next = seq + 1
	} else {
		s.byID[id] = seq
	}
	se := s.series[sid]
	se.kept++
	s.counts.Predictions++
	for _, w := range se.joins {
		w.Add(t, 0, 1)
	}
	if label < 0 {
		if pl, ok := s.pending[id]; ok {
			delete(s.pending, id)
			s.counts.Labels[JoinedPending]++
			label = pl.label
		}
	}
	if label >= 0 {
		s.join(p, label, t)
	}
}

// Label records the label of event eventID that arrived at time at (its
// record's timestamp) and says what became of it (see Outcome). The label
// joins every kept prediction of the event, each in the series of the
// model and version that made it.
func (s *Store) Label(eventID string, label int, at time.Time) Outcome {
	id := s.key(eventID)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.label(id, label, at.UnixMilli())
}

func (s *Store) label(id key, label int, t int64) Outcome {
	s.advance(t)
	if label != 0 && label != 1 {
		s.counts.Labels[Invalid]++
		return Invalid
	}
	if seq, ok := s.byID[id]; ok {
		joined := false
		for {
			p := &s.ring[seq%uint64(len(s.ring))]
			if p.label < 0 {
				s.join(p, int8(label), t)
				joined = true
			}
			if p.next == 0 {
				break
			}
			seq = p.next - 1
		}
		if !joined {
			s.counts.Labels[Duplicate]++
			return Duplicate
		}
		s.counts.Labels[Joined]++
		return Joined
	}
	if _, ok := s.pending[id]; ok {
		s.counts.Labels[Duplicate]++
		return Duplicate
	}
	_, old := s.expired[0][id]
	if _, older := s.expired[1][id]; old || older {
		s.counts.Labels[Expired]++
		return Expired
	}
	if len(s.pending) >= s.opts.MaxPending {
		s.expirePending(true)
	}
	s.pending[id] = pendingLabel{at: t, label: int8(label)}
	s.queue = append(s.queue, queued{id: id, at: t})
	return Pending
}

// join labels p and adds its pair to its series at time t.
func (s *Store) join(p *prediction, label int8, t int64) {
	p.label = label
	se := s.series[p.series]
	for _, w := range se.joins {
		w.Add(p.at, 1, 1)
	}
	if se.n == s.opts.MaxPairs {
		old := se.pairs[se.head]
		se.truncatedTo = max(se.truncatedTo, old.at())
		se.head = (se.head + 1) % len(se.pairs)
		se.n--
		s.counts.EvictedPairs++
	}
	if se.n == len(se.pairs) { // grow the ring, oldest first
		grown := make([]pair, min(max(64, 2*len(se.pairs)), s.opts.MaxPairs))
		for i := 0; i < se.n; i++ {
			grown[i] = se.pairs[(se.head+i)%len(se.pairs)]
		}
		se.pairs, se.head = grown, 0
	}
	se.pairs[(se.head+se.n)%len(se.pairs)] = pair{atLabel: t<<1 | int64(label), score: p.score}
	se.n++
}

func (s *Store) seriesFor(model, version string) uint32 {
	k := seriesKey{model, version}
	if i, ok := s.seriesIdx[k]; ok {
		return i
	}
	se := &series{model: strings.Clone(model), version: strings.Clone(version)}
	k = seriesKey{se.model, se.version}
	for i, w := range windows {
		se.joins[i], _ = rolling.New(w.span, 2)
	}
	i := uint32(len(s.series))
	s.series = append(s.series, se)
	s.seriesIdx[k] = i
	return i
}

// grow makes room for one more prediction in the ring.
func (s *Store) grow() {
	n := s.end - s.first
	if n < uint64(len(s.ring)) {
		return
	}
	grown := make([]prediction, min(2*len(s.ring), s.opts.MaxPredictions))
	for q := s.first; q < s.end; q++ {
		grown[q%uint64(len(grown))] = s.ring[q%uint64(len(s.ring))]
	}
	s.ring = grown
}

// advance moves the clock to t (if later) and expires what it passed.
func (s *Store) advance(t int64) {
	if t <= s.wm {
		return
	}
	s.wm = t
	if s.nextRotate == 0 {
		s.nextRotate = t + s.labelWindow
	}
	for s.wm >= s.nextRotate { // an expired id is remembered for one to two label windows
		s.expired[1], s.expired[0] = s.expired[0], map[key]struct{}{}
		s.nextRotate += s.labelWindow
		if s.nextRotate <= s.wm-s.labelWindow { // a long gap: catch up
			s.nextRotate = s.wm + s.labelWindow
		}
	}
	for s.first < s.end && s.ring[s.first%uint64(len(s.ring))].at < s.wm-s.labelWindow {
		s.expireHead()
	}
	s.expirePending(false)
	for _, se := range s.series {
		for se.n > 0 && se.pairs[se.head].at() <= s.wm-longest {
			se.head = (se.head + 1) % len(se.pairs)
			se.n--
		}
		if se.n == 0 && se.pairs != nil {
			se.pairs, se.head = nil, 0 // a version out of service gives its memory back
		}
	}
}

// rememberExpired notes that event id's predictions are gone. Each
// generation holds at most MaxPredictions ids; a full one rotates early,
// so that the memory of expired ids stays bounded when MaxPredictions
// evicts predictions faster than LabelWindow would.
func (s *Store) rememberExpired(id key) {
	if len(s.expired[0]) >= s.opts.MaxPredictions {
		s.expired[1], s.expired[0] = s.expired[0], map[key]struct{}{}
		s.nextRotate = s.wm + s.labelWindow
	}
	s.expired[0][id] = struct{}{}
}

func (s *Store) key(eventID string) key {
	return key{maphash.String(s.seeds[0], eventID), maphash.String(s.seeds[1], eventID)}
}

// expireHead drops the oldest kept prediction.
func (s *Store) expireHead() {
	seq := s.first
	p := &s.ring[seq%uint64(len(s.ring))]
	if head, ok := s.byID[p.id]; ok && head == seq {
		if p.next != 0 {
			s.byID[p.id] = p.next - 1
		} else {
			delete(s.byID, p.id)
			s.rememberExpired(p.id)
		}
	}
	s.series[p.series].kept--
	*p = prediction{}
	s.first++
}

// expirePending counts as Unknown the pending labels older than
// PendingFor, or (force) the oldest one.
func (s *Store) expirePending(force bool) {
	for s.qhead < len(s.queue) {
		q := s.queue[s.qhead]
		pl, ok := s.pending[q.id]
		if ok && pl.at == q.at {
			if !force && q.at >= s.wm-s.pendingFor {
				break
			}
			delete(s.pending, q.id)
			s.counts.Labels[Unknown]++
			force = false
		}
		s.queue[s.qhead] = queued{}
		s.qhead++
	}
	if s.qhead > 1024 && s.qhead > len(s.queue)/2 {
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue, s.qhead = s.queue[:n], 0
	}
}

// Counts returns the store's counters now.
func (s *Store) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts
	c.Pending = len(s.pending)
	c.Kept = int(s.end - s.first)
	return c
}
