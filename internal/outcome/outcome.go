package outcome

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/producer"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
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

// Input is one topic the core reads, with its decoder.
type Input struct {
	Topic   string
	Kind    schemas.EventType
	Decoder schemas.Decoder
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

	needMu sync.Mutex
	need   atomic.Pointer[map[*scoring.Scorer]uint64] // field-set generation each scorer needs
}

// New returns the core of a model set and its inputs. fields, when not
// nil, is the field set the inputs' decoders were built with (see
// schemas.KeepFields): the core adds every field the scorers in service
// read, and decodes an event again when a model reloaded since it was
// decoded reads a field its decoder skipped.
func New(models *modelset.Set, inputs []Input, fields *schemas.FieldSet) (*Core, error) {
	c := &Core{models: models, inputs: map[string]Input{}, fields: fields}
	for _, in := range inputs {
		if in.Decoder == nil {
			return nil, fmt.Errorf("outcome: input %q has no decoder", in.Topic)
		}
		c.inputs[in.Topic] = in
	}
	for _, r := range models.Routes() {
		c.generationFor(r.Scorer())
	}
	return c, nil
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
	}
	return out
}

// generationFor is the field-set generation from which decoded events
// hold every field s reads (0 when every field is kept). The answer is
// cached per scorer; a new scorer (a reload) adds its fields to the set.
func (c *Core) generationFor(s *scoring.Scorer) uint64 {
	if c.fields == nil {
		return 0
	}
	if m := c.need.Load(); m != nil {
		if g, ok := (*m)[s]; ok {
			return g
		}
	}
	c.needMu.Lock()
	defer c.needMu.Unlock()
	old := c.need.Load()
	if old != nil {
		if g, ok := (*old)[s]; ok {
			return g
		}
	}
	g := c.fields.Add(s.Plan().Sources()...)
	m := map[*scoring.Scorer]uint64{}
	if old != nil {
		live := map[*scoring.Scorer]bool{}
		for _, r := range c.models.Routes() {
			live[r.Scorer()] = true
		}
		for k, v := range *old {
			if live[k] { // forget scorers reloaded away
				m[k] = v
			}
		}
	}
	m[s] = g
	c.need.Store(&m)
	return g
}

// Record is one input record and, after Score, its outcome: a prediction
// (Stage empty; Result and Scorer set) or a dead letter (Stage and Err
// set). Callers embed it in their own per-record type and reuse it.
type Record struct {
	Topic string // routes the record and picks its decoder
	Value []byte // the raw bytes, as received; never modified
	Event schemas.Event

	Stage  string
	Err    error
	Result scoring.Result
	Scorer *scoring.Scorer
}

// Dead reports whether the record's outcome is a dead letter.
func (r *Record) Dead() bool { return r.Stage != "" }

// Reset clears the outcome for reuse, keeping the event's storage.
func (r *Record) Reset() {
	ev := r.Event
	ev.Reset()
	*r = Record{Event: ev}
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
// largest batch it has seen and then allocates nothing. Not safe for
// concurrent use.
type Batch struct {
	core   *Core
	sb     scoring.Batch
	recs   []*Record
	events []*schemas.Event
}

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
	for _, route := range c.models.Routes() {
		s := route.Scorer()
		gen := c.generationFor(s)
		b.recs, b.events = b.recs[:0], b.events[:0]
		for _, r := range recs {
			if r.Dead() || c.models.For(r.Topic) != route {
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
		for i, r := range b.recs {
			res := &b.sb.Results[i]
			if res.Err != nil {
				r.fail(res.Stage, res.Err)
				continue
			}
			r.Result, r.Scorer = *res, s
		}
	}
	for _, r := range recs {
		if !r.Dead() && r.Scorer == nil {
			r.fail(StageDecode, fmt.Errorf("%w: topic %q", ErrNoRoute, r.Topic))
		}
	}
}

// Prediction is the published prediction of a scored record.
func (r *Record) Prediction(src schemas.Source, scoredAt schemas.Millis) schemas.Prediction {
	return r.Scorer.Prediction(&r.Event, &r.Result, src, scoredAt)
}

// FillPrediction is Prediction into p, reusing p's storage.
func (r *Record) FillPrediction(p *schemas.Prediction, src schemas.Source, scoredAt schemas.Millis) {
	r.Scorer.FillPrediction(p, &r.Event, &r.Result, src, scoredAt)
}
