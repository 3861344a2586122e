package schemas

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/linkedin/goavro/v2"
)

// Source locates the input record a prediction was made for.
type Source struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Prediction is one scored event, as published to the predictions topic.
// Its JSON form uses the field names of prediction.avsc, with event_time and
// scored_at as RFC 3339 UTC with milliseconds.
type Prediction struct {
	EventID      string    `json:"event_id"`
	EntityID     string    `json:"entity_id"`
	EventType    string    `json:"event_type"`
	Score        float64   `json:"score"`
	Label        int32     `json:"label"`
	RiskSegment  string    `json:"risk_segment"`
	ModelName    string    `json:"model_name"`
	ModelVersion string    `json:"model_version"`
	EventTime    Millis    `json:"event_time"`
	ScoredAt     Millis    `json:"scored_at"`
	Source       Source    `json:"source"`
	Scores       []float64 `json:"scores,omitempty"`
	// Features, when feature logging is on (PREDICTION_FEATURES), are the
	// model's inputs as it saw them, by name in model order; a missing
	// input is null.
	Features *FeatureVector `json:"features,omitempty"`
	// Reasons, when reason codes are on (REASONS_TOP_K), are the features
	// with the largest absolute contributions to this score's margin.
	Reasons []Reason `json:"reasons,omitempty"`
}

// Reason is one feature's contribution to a prediction's margin (exact
// TreeSHAP): its name, the value the model saw (NaN: missing, written as
// null) and its contribution.
type Reason struct {
	Feature      string
	Value        float64
	Contribution float64
}

// MarshalJSON writes {"feature", "value", "contribution"}, a missing value
// as null.
func (r Reason) MarshalJSON() ([]byte, error) { return appendReason(nil, &r), nil }

// FeatureVector is a prediction's feature values: Values[i] is the input
// named Names[i] (NaN = missing). In JSON it is an object in model order.
type FeatureVector struct {
	Names  []string
	Values []float64
}

// MarshalJSON writes the vector as an object, in input order, a missing
// value as null.
func (f FeatureVector) MarshalJSON() ([]byte, error) { return appendFeatureVector(nil, &f), nil }

// Millis is a time carried at millisecond precision. In JSON it is RFC 3339
// UTC with exactly three fractional digits.
type Millis time.Time

// TimeFormat is the JSON time layout of predictions.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders t as a prediction renders times.
func FormatTime(t time.Time) string { return string(AppendTimeMillis(make([]byte, 0, 24), t)) }

// MarshalJSON implements json.Marshaler.
func (m Millis) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeFormat)+2)
	b = append(b, '"')
	b = time.Time(m).UTC().Truncate(time.Millisecond).AppendFormat(b, TimeFormat)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	*m = Millis(t)
	return err
}

// PredictionEncoder writes predictions in an output encoding.
// Implementations are safe for concurrent use.
type PredictionEncoder interface {
	// Append appends the encoded prediction to dst.
	Append(dst []byte, p *Prediction) ([]byte, error)
}

// PredictionDecoder reads predictions back (tests, tools, consumers in Go).
type PredictionDecoder interface {
	Decode(value []byte) (Prediction, error)
}

// NewPredictionEncoder returns the prediction encoder of an encoding.
func NewPredictionEncoder(enc Encoding) (PredictionEncoder, error) {
	switch enc {
	case JSON:
		return jsonPrediction{}, nil
	case Avro:
		c, err := goavro.NewCodec(PredictionSchema)
		if err != nil {
			return nil, err
		}
		return avroPrediction{c}, nil
	}
	return nil, fmt.Errorf("no prediction encoder for encoding %q", enc)
}

// NewPredictionDecoder returns the prediction decoder of an encoding.
func NewPredictionDecoder(enc Encoding) (PredictionDecoder, error) {
	switch enc {
	case JSON:
		return jsonPrediction{}, nil
	case Avro:
		c, err := goavro.NewCodec(PredictionSchema)
		if err != nil {
			return nil, err
		}
		return avroPrediction{c}, nil
	}
	return nil, fmt.Errorf("no prediction decoder for encoding %q", enc)
}

type jsonPrediction struct{}

func (jsonPrediction) Append(dst []byte, p *Prediction) ([]byte, error) {
	return appendJSONPrediction(dst, p)
}

// Decode matches member names exactly, as PredictionKeyDecoder does (and
// as the JSON event decoder matches its fields): encoding/json also took
// "tOpic" for topic, so the two read different sources from one value
// (FuzzPredictionKey's find). The package's JSON v2 reads the same tags
// and calls the same UnmarshalJSON methods.
func (jsonPrediction) Decode(value []byte) (Prediction, error) {
	var p Prediction
	err := jsonv2.Unmarshal(value, &p, jsonOpts...)
	return p, err
}

type avroPrediction struct{ c *goavro.Codec }

// avroScratch is the native form goavro encodes a prediction from, reused
// from prediction to prediction: the record and source maps are filled in
// place, and a string or number equal to the one boxed last time keeps its
// interface value (model name and version, event type, risk segment, topic
// and scoring time repeat across a batch), so an encode boxes only what
// changes: the ids, the score, the times and the offset.
type avroScratch struct {
	rec, src map[string]any
	boxed    map[string]boxedString
	scoredAt int64
	scoredIn any
}

type boxedString struct {
	s string
	v any
}

var avroScratches = sync.Pool{New: func() any {
	return &avroScratch{rec: make(map[string]any, 12), src: make(map[string]any, 3), boxed: make(map[string]boxedString, 6)}
}}

// box returns s as an interface value, reusing the last box of field.
func (a *avroScratch) box(field, s string) any {
	if b, ok := a.boxed[field]; ok && b.s == s {
		return b.v
	}
	v := any(s)
	a.boxed[field] = boxedString{s, v}
	return v
}

func (a avroPrediction) Append(dst []byte, p *Prediction) ([]byte, error) {
	sc := avroScratches.Get().(*avroScratch)
	defer avroScratches.Put(sc)
	var scores any
	if p.Scores != nil {
		scores = goavro.Union("array", toAny(p.Scores))
	}
	if at := time.Time(p.ScoredAt).UnixMilli(); sc.scoredIn == nil || at != sc.scoredAt {
		sc.scoredAt, sc.scoredIn = at, at
	}
	rec, src := sc.rec, sc.src
	rec["event_id"] = p.EventID
	rec["entity_id"] = p.EntityID
	rec["event_type"] = sc.box("event_type", p.EventType)
	rec["score"] = p.Score
	rec["label"] = p.Label
	rec["risk_segment"] = sc.box("risk_segment", p.RiskSegment)
	rec["model_name"] = sc.box("model_name", p.ModelName)
	rec["model_version"] = sc.box("model_version", p.ModelVersion)
	rec["event_time"] = time.Time(p.EventTime).UnixMilli()
	rec["scored_at"] = sc.scoredIn
	src["topic"] = sc.box("topic", p.Source.Topic)
	src["partition"] = p.Source.Partition
	src["offset"] = p.Source.Offset
	rec["source"] = src
	rec["scores"] = scores
	rec["features"], rec["reasons"] = nil, nil
	if f := p.Features; f != nil {
		m := make(map[string]any, len(f.Names))
		for i, n := range f.Names {
			m[n] = optionalDouble(f.Values[i])
		}
		rec["features"] = goavro.Union("map", m)
	}
	if len(p.Reasons) > 0 {
		rs := make([]any, len(p.Reasons))
		for i, r := range p.Reasons {
			rs[i] = map[string]any{"feature": r.Feature, "value": optionalDouble(r.Value), "contribution": r.Contribution}
		}
		rec["reasons"] = goavro.Union("array", rs)
	}
	out, err := a.c.BinaryFromNative(dst, rec)
	rec["event_id"], rec["entity_id"], rec["scores"], rec["features"], rec["reasons"] = nil, nil, nil, nil, nil // keep no caller strings alive
	return out, err
}

// optionalDouble is a ["null","double"] value: NaN is null.
func optionalDouble(v float64) any {
	if v != v {
		return nil
	}
	return goavro.Union("double", v)
}

func fromOptionalDouble(v any) float64 {
	if u, ok := v.(map[string]any); ok {
		if d, ok := u["double"].(float64); ok {
			return d
		}
	}
	return math.NaN()
}

func toAny(xs []float64) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (a avroPrediction) Decode(value []byte) (Prediction, error) {
	native, rest, err := a.c.NativeFromBinary(value)
	if err != nil {
		return Prediction{}, err
	}
	if len(rest) != 0 {
		return Prediction{}, fmt.Errorf("%d trailing bytes", len(rest))
	}
	m := native.(map[string]any)
	src := m["source"].(map[string]any)
	p := Prediction{
		EventID:      m["event_id"].(string),
		EntityID:     m["entity_id"].(string),
		EventType:    m["event_type"].(string),
		Score:        m["score"].(float64),
		Label:        m["label"].(int32),
		RiskSegment:  m["risk_segment"].(string),
		ModelName:    m["model_name"].(string),
		ModelVersion: m["model_version"].(string),
		EventTime:    Millis(m["event_time"].(time.Time)),
		ScoredAt:     Millis(m["scored_at"].(time.Time)),
		Source: Source{
			Topic:     src["topic"].(string),
			Partition: src["partition"].(int32),
			Offset:    src["offset"].(int64),
		},
	}
	if u, ok := m["scores"].(map[string]any); ok {
		for _, x := range u["array"].([]any) {
			p.Scores = append(p.Scores, x.(float64))
		}
	}
	if u, ok := m["features"].(map[string]any); ok {
		fm, _ := u["map"].(map[string]any)
		p.Features = &FeatureVector{}
		names := make([]string, 0, len(fm))
		for n := range fm {
			names = append(names, n)
		}
		sort.Strings(names) // an Avro map has no order
		for _, n := range names {
			p.Features.Names = append(p.Features.Names, n)
			p.Features.Values = append(p.Features.Values, fromOptionalDouble(fm[n]))
		}
	}
	if u, ok := m["reasons"].(map[string]any); ok {
		for _, x := range u["array"].([]any) {
			r := x.(map[string]any)
			p.Reasons = append(p.Reasons, Reason{Feature: r["feature"].(string), Value: fromOptionalDouble(r["value"]),
				Contribution: r["contribution"].(float64)})
		}
	}
	return p, nil
}
