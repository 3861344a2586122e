package outcome

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/entity"
)

// Stages of a dead letter (the values of the streamscore-stage header).
const (
	StageDecode   = producer.StageDecode
	StageFeatures = producer.StageFeatures
	StageScore    = producer.StageScore
	StageProduce  = producer.StageProduce
)

// ErrUnavailable is wrapped by Decode's error when a record cannot be
// decoded now because a service it needs (the schema registry) did not
// answer. The record is not at fault: callers wait and decode again, or
// abort their transaction; they never dead-letter it.
var ErrUnavailable = schemas.ErrUnavailable

// ErrNoRoute is the reason of a record whose topic no model scores.
var ErrNoRoute = errors.New("no model scores this topic")

// Input is one topic the core reads, with its decoder. Its position in
// the inputs given to New is its stream number in the entity state.
type Input struct {
	Topic   string
	Kind    schemas.EventType
	Decoder schemas.Decoder
	stream  int32
}

// Core turns input records into outcomes: decode → route → features →
// score. It is the one copy of that path and of its error policy, shared
// by run (both deliveries), backfill, score and the HTTP endpoints; the
// modes differ only in where records come from and where outcomes go.
// A Core is immutable apart from its field set, and safe for concurrent
// use; per-goroutine scratch lives in a Batch.
type Core struct {
	models *modelset.Set
	inputs map[string]Input
	fields *schemas.FieldSet
	spec   *entity.Spec // the aggregates every route reads; empty without any

	needMu sync.Mutex
	need   atomic.Pointer[map[*scoring.Scorer]*scorerNeeds]
}

// scorerNeeds is what the core keeps per scorer in service: the field-set
// generation its plan needs, and where its aggregates are in the spec.
type scorerNeeds struct {
	gen  uint64
	aggs []int // spec index of each of the plan's aggregates
}

// New returns the core of a model set and its inputs. fields, when not
// nil, is the field set the inputs' decoders were built with (see
// schemas.KeepFields): the core adds every field the scorers in service
// read, and decodes an event again when a model reloaded since it was
// decoded reads a field its decoder skipped.
func New(models *modelset.Set, inputs []Input, fields *schemas.FieldSet) (*Core, error) {
	c := &Core{models: models, inputs: map[string]Input{}, fields: fields}
	for i, in := range inputs {
		if in.Decoder == nil {
			return nil, fmt.Errorf("outcome: input %q has no decoder", in.Topic)
		}
		in.stream = int32(i)
		c.inputs[in.Topic] = in
	}
	var aggs []scoring.Aggregate
	for _, r := range models.Routes() {
		aggs = append(aggs, r.Scorer().Plan().Aggregates()...)
		if sh := r.Shadow(); sh != nil {
			aggs = append(aggs, sh.Plan().Aggregates()...)
		}
	}
	c.spec = entity.NewSpec(aggs)
	if err := c.checkKinds(inputs); err != nil {
		return nil, err
	}
	if fields != nil {
		for _, k := range c.spec.Kinds() {
			fields.Add(c.spec.Fields(k)...)
		}
	}
	for _, r := range models.Routes() {
		c.needsOf(r.Scorer())
		if sh := r.Shadow(); sh != nil {
			c.needsOf(sh)
		}
	}
	return c, nil
}

// checkKinds fails when an aggregate reads a kind no input carries.
func (c *Core) checkKinds(inputs []Input) error {
	for _, a := range c.spec.Aggregates() {
		found := false
		for _, in := range inputs {
			found = found || in.Kind == a.Of
		}
		if !found && len(inputs) > 0 {
			name := ""
			for _, r := range c.models.Routes() {
				if name = r.Scorer().Plan().AggregateFeature(a); name != "" {
					break
				}
			}
			var kinds []string
			for _, in := range inputs {
				kinds = append(kinds, fmt.Sprintf("%s carries %s", in.Topic, in.Kind))
			}
			return fmt.Errorf("%w: feature %q aggregates %s events, but no input topic carries them (%s)", scoring.ErrAggregate, name, a.Of, strings.Join(kinds, ", "))
		}
	}
	return nil
}

// Stream is the input's stream number in the entity state.
func (in Input) Stream() int32 { return in.stream }

// Spec is the entity aggregates the routes read (empty without any).
func (c *Core) Spec() *entity.Spec { return c.spec }

// Accepts reports whether a scorer can be put in service by a reload: its
// aggregates must be ones the lanes' state already keeps, with no less
// history (a new aggregate needs a restart, which rebuilds the state).
// A service that reloads models passes it to modelset.Set.SetAccept.
func (c *Core) Accepts(s *scoring.Scorer) error {
	if !c.spec.Covers(entity.NewSpec(s.Plan().Aggregates())) {
		return fmt.Errorf("%w: the new features file reads aggregates the entity state does not keep; restart streamscore to rebuild the state for them", scoring.ErrAggregate)
	}
	return nil
}

// Models is the model set in service.
func (c *Core) Models() *modelset.Set { return c.models }

// Input returns the input of a topic.
func (c *Core) Input(topic string) (Input, bool) {
	in, ok := c.inputs[topic]
	return in, ok
}

// FieldsFor returns the fields the scorers in service read, for callers
// that build their own decoders (none kept means every field).
func FieldsFor(models *modelset.Set) []string {
	var out []string
	for _, r := range models.Routes() {
		out = append(out, r.Scorer().Plan().Sources()...)
		if sh := r.Shadow(); sh != nil {
			out = append(out, sh.Plan().Sources()...)
		}
	}
	return out
}

// needsOf is what s needs of the core: the field-set generation from
// which decoded events hold every field s reads (0 when every field is
// kept), and its aggregates' places in the spec. The answer is cached per
// scorer; a new scorer (a reload) adds its fields to the set.
func (c *Core) needsOf(s *scoring.Scorer) *scorerNeeds {
	if m := c.need.Load(); m != nil {
		if n, ok := (*m)[s]; ok {
			return n
		}
	}
	c.needMu.Lock()
	defer c.needMu.Unlock()
	old := c.need.Load()
	if old != nil {
		if n, ok := (*old)[s]; ok {
			return n
		}
	}
	n := &scorerNeeds{}
	if c.fields != nil {
		n.gen = c.fields.Add(s.Plan().Sources()...)
	}
	for _, a := range s.Plan().Aggregates() {
		n.aggs = append(n.aggs, c.spec.Index(a)) // -1: not kept (Accepts refuses such a reload)
	}
	m := map[*scoring.Scorer]*scorerNeeds{}
	if old != nil {
		live := map[*scoring.Scorer]bool{}
		for _, r := range c.models.Routes() {
			live[r.Scorer()] = true
			if sh := r.Shadow(); sh != nil {
				live[sh] = true
			}
		}
		for k, v := range *old {
			if live[k] { // forget scorers reloaded away
				m[k] = v
			}
		}
	}
	m[s] = n
	c.need.Store(&m)
	return n
}

// Record is one input record and, after Score, its outcome: a prediction
// (Stage empty; Result and Scorer set) or a dead letter (Stage and Err
// set). Callers embed it in their own per-record type and reuse it.
type Record struct {
	Topic  string // routes the record and picks its decoder
	Value  []byte // the raw bytes, as received; never modified
	Offset int64  // its place in its partition (the entity state orders ties by it)
	// StateOnly marks a record replayed into the entity state only (a
	// rebuild, a backfill's warm-up): Score observes it and gives it no
	// outcome.
	StateOnly bool
	// Probe marks a record that reads the entity state but does not enter
	// it (an HTTP request scored against the stream's state).
	Probe bool
	Event schemas.Event

	Stage  string
	Err    error
	Result scoring.Result
	Scorer *scoring.Scorer
	// Features are the model inputs as the model saw them, when the batch
	// keeps them (KeepFeatures): feature logging, training export.
	Features []float64
	// Reasons and Contributions are the prediction's reason codes, when
	// the batch explains it (SetExplain); empty otherwise.
	Reasons       []scoring.Reason
	Contributions []float32
	// Shadow is the route's challenger's outcome, when the batch scores
	// challengers (SetShadows, ScoreShadow): never the record's outcome.
	Shadow     ShadowOutcome
	shadowAggs []schemas.Value // the challenger's aggregates (computed before the record enters the state)
}

// ShadowOutcome is what a route's challenger made of a record the
// champion predicted: a Result, or Err and Stage when it could not score
// it. Scorer is nil when no challenger scored the record.
type ShadowOutcome struct {
	Scorer *scoring.Scorer
	Result scoring.Result
	Err    error
	Stage  string
}

// Dead reports whether the record's outcome is a dead letter.
func (r *Record) Dead() bool { return r.Stage != "" }

// Reset clears the outcome for reuse, keeping the event's storage.
func (r *Record) Reset() {
	ev, feats, sa := r.Event, r.Features[:0], r.shadowAggs[:0]
	reasons, contrib := r.Reasons[:0], r.Contributions[:0]
	ev.Reset()
	*r = Record{Event: ev, Features: feats, shadowAggs: sa, Reasons: reasons, Contributions: contrib}
}

// fail makes the outcome a dead letter.
func (r *Record) fail(stage string, err error) {
	r.Stage, r.Err = stage, err
}

// Decode decodes r.Value with its topic's decoder. A record that is not a
// valid event of its topic becomes a dead letter (stage decode) and Decode
// returns nil; only when the schema registry did not answer does Decode
// return an error (wrapping ErrUnavailable), leaving the record
// undecided: the caller decodes it again later.
func (c *Core) Decode(r *Record) error {
	in, ok := c.inputs[r.Topic]
	if !ok {
		r.fail(StageDecode, fmt.Errorf("%w: topic %q is not an input", ErrNoRoute, r.Topic))
		return nil
	}
	if err := in.Decoder.Decode(r.Value, &r.Event); err != nil {
		if errors.Is(err, schemas.ErrUnavailable) {
			return err
		}
		r.fail(StageDecode, err)
	}
	return nil
}

// Batch is per-goroutine scratch for scoring records; it grows to the
// largest batch it has seen and then allocates nothing. With an entity
// state (SetState), Score computes each record's aggregates from it and
// then adds the record to it. Not safe for concurrent use.
type Batch struct {
	core    *Core
	sb      scoring.Batch
	recs    []*Record
	events  []*schemas.Event
	state   *entity.State
	keep    bool                                     // fill Record.Features
	missing func(s *scoring.Scorer, counts []uint32) // SetMissing
	// reason codes (explain.go)
	explain Explain
	pick    []int
	contrib []float32
	row32   []float32 // a float64 model's row, for its reasons' values
	// Observed counts what the entity state saw in this Batch's life:
	// late records and lookups answered missing because of eviction.
	Late, Evicted int64
	// challengers (SetShadows): the one of each route, read once per Score
	shadows  bool
	shadowOf map[*modelset.Route]*scoring.Scorer
	shadowSB scoring.Batch
	stale    []*schemas.Event                                                                  // challengers' re-decoded events
	scored   func(route *modelset.Route, s *scoring.Scorer, sb *scoring.Batch, recs []*Record) // SetScored
}

// SetShadows makes Score take each route's challenger (modelset.Route.
// Shadow) as it takes the champion, at its start, and compute the
// challenger's entity aggregates before a record enters the state, so
// that ScoreShadow can score the batch's records with it afterwards.
func (b *Batch) SetShadows(on bool) { b.shadows = on }

// SetScored makes Score tell fn, after each route's champion has scored,
// the route, its scorer, the scratch holding the dense rows (sb.Features,
// sb.Features64) and the records scored, in the order of sb.Results.
// Everything is valid during the call only. Drift monitoring uses it.
func (b *Batch) SetScored(fn func(route *modelset.Route, s *scoring.Scorer, sb *scoring.Batch, recs []*Record)) {
	b.scored = fn
}

// SetMissing makes Score tell fn, after each route's scoring, how many of
// the route's records had each model input missing
// (scoring.Batch.Missing; the slice is valid during the call).
func (b *Batch) SetMissing(fn func(s *scoring.Scorer, counts []uint32)) { b.missing = fn }

// KeepFeatures makes Score fill every prediction's Record.Features.
func (b *Batch) KeepFeatures(keep bool) { b.keep = keep }

// SetState gives the batch the lane's entity state (nil: none).
func (b *Batch) SetState(st *entity.State) { b.state = st }

// State is the batch's entity state, or nil.
func (b *Batch) State() *entity.State { return b.state }

// NewBatch returns scratch for Score.
func (c *Core) NewBatch() *Batch { return &Batch{core: c} }

// WantMargins asks Score for the raw scores of models that report them
// (scoring.MarginModel), which file scoring writes.
func (b *Batch) WantMargins(want bool) { b.sb.WantMargins = want }

// Score gives every decoded record of recs (those that are not dead
// letters already) its outcome. Records are scored route by route, each
// route with the scorer in service when Score starts (a reload takes
// effect between batches); records keep their order in recs. A feature or
// model error fails only its own record. Multi-class probabilities in a
// Result alias the batch's buffers: valid until the next Score.
func (b *Batch) Score(recs []*Record) {
	c := b.core
	if b.shadows {
		if b.shadowOf == nil {
			b.shadowOf = map[*modelset.Route]*scoring.Scorer{}
		}
		clear(b.shadowOf)
		for _, route := range c.models.Routes() {
			if sh := route.Shadow(); sh != nil {
				b.shadowOf[route] = sh
			}
		}
	}
	if b.state != nil && len(c.spec.Aggregates()) > 0 {
		b.entities(recs)
	}
	for _, route := range c.models.Routes() {
		s := route.Scorer()
		gen := c.needsOf(s).gen
		b.recs, b.events = b.recs[:0], b.events[:0]
		for _, r := range recs {
			if r.Dead() || r.StateOnly || c.models.For(r.Topic) != route {
				continue
			}
			if r.Event.KeptGen != 0 && r.Event.KeptGen < gen && r.Value != nil {
				// decoded before a reload whose model reads more fields: the
				// writer schema is cached by now, so this asks no registry
				if err := c.Decode(r); err != nil || r.Dead() {
					if err != nil {
						r.fail(StageDecode, err)
					}
					continue
				}
			}
			b.recs = append(b.recs, r)
			b.events = append(b.events, &r.Event)
		}
		if len(b.recs) == 0 {
			continue
		}
		s.Score(b.events, &b.sb)
		if b.missing != nil {
			b.missing(s, b.sb.Missing())
		}
		if b.scored != nil {
			b.scored(route, s, &b.sb, b.recs)
		}
		for i, r := range b.recs {
			res := &b.sb.Results[i]
			if res.Err != nil {
				r.fail(res.Stage, res.Err)
				continue
			}
			r.Result, r.Scorer, r.Shadow = *res, s, ShadowOutcome{}
			r.Reasons, r.Contributions = r.Reasons[:0], r.Contributions[:0]
			if b.keep {
				r.Features = b.sb.AppendFeatures(r.Features[:0], s, i)
			}
		}
		if b.explain.For != ExplainNone {
			b.explainRoute(s)
		}
	}
	for _, r := range recs {
		if !r.Dead() && !r.StateOnly && r.Scorer == nil {
			r.fail(StageDecode, fmt.Errorf("%w: topic %q", ErrNoRoute, r.Topic))
		}
	}
}

// entities computes, in record order, each record's aggregates from the
// entity state and then adds the record to it: a record sees the records
// before it, never itself.
func (b *Batch) entities(recs []*Record) {
	c := b.core
	for _, r := range recs {
		if r.Dead() {
			continue
		}
		in, ok := c.inputs[r.Topic]
		if !ok {
			continue
		}
		if !r.StateOnly {
			if route := c.models.For(r.Topic); route != nil {
				if idx := c.needsOf(route.Scorer()).aggs; len(idx) > 0 {
					r.Event.Aggs = growValues(r.Event.Aggs, len(idx))
					if b.state.Aggregate(&r.Event, idx, r.Event.Aggs) {
						b.Evicted++
					}
				}
				if sh := b.shadowOf[route]; b.shadows && sh != nil {
					if idx := c.needsOf(sh).aggs; len(idx) > 0 {
						r.shadowAggs = growValues(r.shadowAggs, len(idx))
						b.state.Aggregate(&r.Event, idx, r.shadowAggs)
					}
				}
			}
		}
		if r.Probe {
			continue
		}
		// a replayed record (StateOnly) was never scored, so it is not
		// late: a rebuild replays each partition in turn, an entity's
		// activity after its later transactions
		if b.state.Observe(&r.Event, in.Kind, entity.Pos{Stream: in.stream, Offset: r.Offset}) && !r.StateOnly {
			b.Late++
		}
	}
}

// ScoreShadow scores, with route's challenger as Score took it (none: it
// returns nil), every record of recs that the route's champion predicted
// in the last Score, and sets their Shadow outcome; the other records get
// none. The champion's outcome is never touched: a challenger's feature
// or model error is the challenger's (Shadow.Err). It returns the
// challenger and the number of records it was given. Multi-class
// probabilities in Shadow.Result alias the batch's buffers: valid until
// the next ScoreShadow.
func (b *Batch) ScoreShadow(recs []*Record, route *modelset.Route) (*scoring.Scorer, int) {
	c := b.core
	sh := b.shadowOf[route]
	if !b.shadows || sh == nil {
		return nil, 0
	}
	needs := c.needsOf(sh)
	swap := len(needs.aggs) > 0
	b.recs, b.events = b.recs[:0], b.events[:0]
	stale := 0
	for _, r := range recs {
		r.Shadow = ShadowOutcome{}
		if r.Dead() || r.StateOnly || r.Probe || r.Scorer == nil || c.models.For(r.Topic) != route {
			continue
		}
		ev := &r.Event
		if r.Event.KeptGen != 0 && r.Event.KeptGen < needs.gen && r.Value != nil {
			// decoded before a reload whose challenger reads more fields:
			// decode again into scratch (the champion's event stays as it is)
			if stale == len(b.stale) {
				b.stale = append(b.stale, &schemas.Event{})
			}
			ev = b.stale[stale]
			stale++
			if err := c.inputs[r.Topic].Decoder.Decode(r.Value, ev); err != nil {
				r.Shadow = ShadowOutcome{Scorer: sh, Err: err, Stage: StageDecode}
				continue
			}
			if swap {
				ev.Aggs = r.shadowAggs
			}
		} else if swap {
			r.Event.Aggs, r.shadowAggs = r.shadowAggs, r.Event.Aggs
		}
		b.recs = append(b.recs, r)
		b.events = append(b.events, ev)
	}
	if len(b.recs) == 0 {
		return sh, 0
	}
	sh.Score(b.events, &b.shadowSB)
	for i, r := range b.recs {
		if swap && b.events[i] == &r.Event {
			r.Event.Aggs, r.shadowAggs = r.shadowAggs, r.Event.Aggs
		}
	}
	for i, r := range b.recs {
		res := &b.shadowSB.Results[i]
		if res.Err != nil {
			r.Shadow = ShadowOutcome{Scorer: sh, Err: res.Err, Stage: res.Stage}
			continue
		}
		r.Shadow = ShadowOutcome{Scorer: sh, Result: *res}
	}
	return sh, len(b.recs)
}

func growValues(v []schemas.Value, n int) []schemas.Value {
	if cap(v) < n {
		return make([]schemas.Value, n)
	}
	return v[:n]
}

// Prediction is the published prediction of a scored record.
func (r *Record) Prediction(src schemas.Source, scoredAt schemas.Millis) schemas.Prediction {
	return r.Scorer.Prediction(&r.Event, &r.Result, src, scoredAt)
}

// FillPrediction is Prediction into p, reusing p's storage.
func (r *Record) FillPrediction(p *schemas.Prediction, src schemas.Source, scoredAt schemas.Millis) {
	r.Scorer.FillPrediction(p, &r.Event, &r.Result, src, scoredAt)
}
