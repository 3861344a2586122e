package schemas

import (
	"encoding/json"
	"fmt"
	"time"

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
}

// Millis is a time carried at millisecond precision. In JSON it is RFC 3339
// UTC with exactly three fractional digits.
type Millis time.Time

// TimeFormat is the JSON time layout of predictions.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders t as a prediction renders times.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

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
	b, err := json.Marshal(p)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func (jsonPrediction) Decode(value []byte) (Prediction, error) {
	var p Prediction
	err := json.Unmarshal(value, &p)
	return p, err
}

type avroPrediction struct{ c *goavro.Codec }

func (a avroPrediction) Append(dst []byte, p *Prediction) ([]byte, error) {
	var scores any
	if p.Scores != nil {
		scores = goavro.Union("array", toAny(p.Scores))
	}
	rec := map[string]any{
		"event_id":      p.EventID,
		"entity_id":     p.EntityID,
		"event_type":    p.EventType,
		"score":         p.Score,
		"label":         p.Label,
		"risk_segment":  p.RiskSegment,
		"model_name":    p.ModelName,
		"model_version": p.ModelVersion,
		"event_time":    time.Time(p.EventTime),
		"scored_at":     time.Time(p.ScoredAt),
		"source": map[string]any{
			"topic":     p.Source.Topic,
			"partition": p.Source.Partition,
			"offset":    p.Source.Offset,
		},
		"scores": scores,
	}
	return a.c.BinaryFromNative(dst, rec)
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
	return p, nil
}
