package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The JSON form of a prediction is defined as json.Marshal of Prediction.
// appendJSONPrediction writes those bytes straight into dst, without
// reflection or an intermediate buffer: the field order of the struct,
// encoding/json's string escaping (HTML characters, U+2028/U+2029, invalid
// UTF-8 as U+FFFD) and its float format ('f', or 'e' below 1e-6 and from
// 1e21, with a one-digit exponent kept short). TestPredictionGolden and
// TestJSONPredictionMatchesMarshal hold it to json.Marshal byte for byte.

var errNonFiniteJSON = errors.New("json: unsupported value: NaN or ±Inf")

func appendJSONPrediction(b []byte, p *Prediction) ([]byte, error) {
	if !finite(p.Score) {
		return b, errNonFiniteJSON
	}
	b = append(b, `{"event_id":`...)
	b = appendJSONString(b, p.EventID)
	b = append(b, `,"entity_id":`...)
	b = appendJSONString(b, p.EntityID)
	b = append(b, `,"event_type":`...)
	b = appendJSONString(b, p.EventType)
	b = append(b, `,"score":`...)
	b = appendJSONFloat(b, p.Score)
	b = append(b, `,"label":`...)
	b = strconv.AppendInt(b, int64(p.Label), 10)
	b = append(b, `,"risk_segment":`...)
	b = appendJSONString(b, p.RiskSegment)
	b = append(b, `,"model_name":`...)
	b = appendJSONString(b, p.ModelName)
	b = append(b, `,"model_version":`...)
	b = appendJSONString(b, p.ModelVersion)
	b = append(b, `,"event_time":`...)
	b = appendJSONTime(b, p.EventTime)
	b = append(b, `,"scored_at":`...)
	b = appendJSONTime(b, p.ScoredAt)
	b = append(b, `,"source":{"topic":`...)
	b = appendJSONString(b, p.Source.Topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(p.Source.Partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, p.Source.Offset, 10)
	b = append(b, '}')
	if len(p.Scores) > 0 {
		b = append(b, `,"scores":[`...)
		for i, s := range p.Scores {
			if !finite(s) {
				return b, errNonFiniteJSON
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONFloat(b, s)
		}
		b = append(b, ']')
	}
	if p.Features != nil {
		b = append(b, `,"features":`...)
		b = appendFeatureVector(b, p.Features)
	}
	if len(p.Reasons) > 0 {
		b = append(b, `,"reasons":[`...)
		for i := range p.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendReason(b, &p.Reasons[i])
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendReason(b []byte, r *Reason) []byte {
	b = append(b, `{"feature":`...)
	b = appendJSONString(b, r.Feature)
	b = append(b, `,"value":`...)
	if finite(r.Value) {
		b = appendJSONFloat(b, r.Value)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"contribution":`...)
	if finite(r.Contribution) {
		b = appendJSONFloat(b, r.Contribution)
	} else {
		b = append(b, '0')
	}
	return append(b, '}')
}

func appendFeatureVector(b []byte, f *FeatureVector) []byte {
	b = append(b, '{')
	for i, name := range f.Names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		if v := f.Values[i]; finite(v) {
			b = appendJSONFloat(b, v)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, '}')
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// appendJSONTime writes a Millis as its MarshalJSON does.
func appendJSONTime(b []byte, m Millis) []byte {
	b = append(b, '"')
	b = AppendTimeMillis(b, time.Time(m))
	return append(b, '"')
}

// AppendTimeMillis appends t as FormatTime writes it (RFC 3339 in UTC with
// exactly three fractional digits, the fraction truncated), without the
// generic layout interpreter for the years 0001–9999.
func AppendTimeMillis(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	days, rem := ms/86_400_000, ms%86_400_000
	if rem < 0 {
		days, rem = days-1, rem+86_400_000
	}
	y, mo, d := civil(days)
	if y < 1 || y > 9999 {
		return time.UnixMilli(ms).UTC().AppendFormat(b, TimeFormat)
	}
	hh, mm, ss, frac := rem/3_600_000, rem/60_000%60, rem/1000%60, rem%1000
	return append(b,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+hh/10), byte('0'+hh%10), ':', byte('0'+mm/10), byte('0'+mm%10), ':',
		byte('0'+ss/10), byte('0'+ss%10), '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10), 'Z')
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days-to-civil algorithm).
func civil(days int64) (y, m, d int64) {
	z := days + 719_468
	era := z / 146_097
	if z < 0 && z%146_097 != 0 {
		era--
	}
	doe := z - era*146_097
	yoe := (doe - doe/1460 + doe/36_524 - doe/146_096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendJSONFloat formats a finite float64 as encoding/json does.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // 1e-07 → 1e-7
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// jsonSafe[c] is true for ASCII bytes encoding/json writes unchanged
// (with its default HTML escaping).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString quotes s as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // control characters and <, >, &
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// UnmarshalJSON reads a feature vector written by MarshalJSON, in its
// order (null is NaN).
func (f *FeatureVector) UnmarshalJSON(b []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return fmt.Errorf("features: want an object")
	}
	*f = FeatureVector{}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String() // the token is voided by the next read
		v, err := dec.ReadToken()
		if err != nil {
			return err
		}
		x := math.NaN()
		if v.Kind() == '0' {
			if x, err = v.Float(); err != nil {
				return err
			}
		} else if v.Kind() != 'n' {
			return fmt.Errorf("features: %q is not a number or null", name)
		}
		f.Names, f.Values = append(f.Names, name), append(f.Values, x)
	}
	_, err := dec.ReadToken()
	return err
}

// UnmarshalJSON reads a reason written by MarshalJSON (null value: NaN).
func (r *Reason) UnmarshalJSON(b []byte) error {
	var raw struct {
		Feature      string   `json:"feature"`
		Value        *float64 `json:"value"`
		Contribution float64  `json:"contribution"`
	}
	if err := jsonv2.Unmarshal(b, &raw, jsonOpts...); err != nil { // exact names, as jsonPrediction.Decode
		return err
	}
	*r = Reason{Feature: raw.Feature, Value: math.NaN(), Contribution: raw.Contribution}
	if raw.Value != nil {
		r.Value = *raw.Value
	}
	return nil
}
