package schemas

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// PredictionKey is what joins a prediction to its label: the fields a
// reader of the predictions topic needs to rebuild label state, read
// without decoding the rest of the record (the features, reasons, class
// probabilities). The byte slices alias the decoded value or the
// decoder's scratch: they are valid until the next DecodeKey.
type PredictionKey struct {
	EventID, ModelName, ModelVersion []byte
	Score                            float64
	ScoredAt                         int64 // unix milliseconds
	SourceTopic                      []byte
	SourcePartition                  int32
	SourceOffset                     int64
}

// PredictionKeyDecoder reads the PredictionKey of prediction records
// (PredictionEncoder's). It does not allocate for what that encoder
// writes, and fails, as PredictionDecoder does, on a value that is not a
// prediction. Not safe for concurrent use (it reuses a scratch buffer).
type PredictionKeyDecoder interface {
	DecodeKey(value []byte, k *PredictionKey) error
}

// NewPredictionKeyDecoder returns the key decoder of an output encoding:
// JSON or plain Avro (prediction.avsc). With avro-confluent the writer's
// schema is the registry's: use NewConfluentPredictionDecoder.
func NewPredictionKeyDecoder(enc Encoding) (PredictionKeyDecoder, error) {
	switch enc {
	case JSON:
		return &jsonKeyDecoder{}, nil
	case Avro:
		return avroKeyDecoder{}, nil
	}
	return nil, fmt.Errorf("no prediction key decoder for encoding %q", enc)
}

var errKey = errors.New("not a prediction")

// avroKeyDecoder reads prediction.avsc's fields in order up to source
// (the key's last) and leaves the rest unread.
type avroKeyDecoder struct{}

func (avroKeyDecoder) DecodeKey(v []byte, k *PredictionKey) error {
	r := avroReader{b: v}
	k.EventID = r.bytes()
	r.bytes() // entity_id
	r.bytes() // event_type
	k.Score = r.double()
	r.long()  // label
	r.bytes() // risk_segment
	k.ModelName = r.bytes()
	k.ModelVersion = r.bytes()
	r.long() // event_time
	k.ScoredAt = r.long()
	k.SourceTopic = r.bytes()
	p := r.long()
	k.SourceOffset = r.long()
	if r.err != nil || p < math.MinInt32 || p > math.MaxInt32 {
		return fmt.Errorf("avro prediction: %w", errKey)
	}
	k.SourcePartition = int32(p)
	return nil
}

type avroReader struct {
	b   []byte
	err error
}

func (r *avroReader) long() int64 {
	if r.err != nil {
		return 0
	}
	u, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errKey
		return 0
	}
	r.b = r.b[n:]
	return int64(u>>1) ^ -int64(u&1) // zigzag
}

func (r *avroReader) bytes() []byte {
	n := r.long()
	if r.err != nil || n < 0 || n > int64(len(r.b)) {
		r.err = errKey
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *avroReader) double() float64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errKey
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return f
}

// jsonKeyDecoder scans the prediction's top-level object, reading the
// key's members and skipping the others, in any order.
type jsonKeyDecoder struct {
	scratch []byte // unescaped strings
}

func (d *jsonKeyDecoder) DecodeKey(v []byte, k *PredictionKey) error {
	*k = PredictionKey{}
	d.scratch = d.scratch[:0]
	s := jsonScanner{b: v}
	var have uint8 // event_id, score, model_name, model_version, scored_at, source
	if !s.object(func(name []byte) bool {
		switch string(name) {
		case "event_id":
			k.EventID, have = d.str(&s), have|1
		case "score":
			k.Score, have = s.number(), have|2
		case "model_name":
			k.ModelName, have = d.str(&s), have|4
		case "model_version":
			k.ModelVersion, have = d.str(&s), have|8
		case "scored_at":
			t, err := time.Parse(time.RFC3339Nano, string(d.str(&s)))
			if err != nil {
				return false
			}
			k.ScoredAt, have = t.UnixMilli(), have|16
		case "source":
			have |= 32
			return s.object(func(name []byte) bool {
				switch string(name) {
				case "topic":
					k.SourceTopic = d.str(&s)
				case "partition":
					p := s.number()
					if p != math.Trunc(p) || p < math.MinInt32 || p > math.MaxInt32 {
						return false
					}
					k.SourcePartition = int32(p)
				case "offset":
					o, err := strconv.ParseInt(string(s.token()), 10, 64)
					if err != nil {
						return false
					}
					k.SourceOffset = o
				default:
					s.skip()
				}
				return !s.bad
			})
		default:
			s.skip()
		}
		return !s.bad
	}) || s.bad || have != 63 {
		return fmt.Errorf("json prediction: %w", errKey)
	}
	if s.ws(); s.i != len(s.b) {
		return fmt.Errorf("json prediction: trailing bytes: %w", errKey)
	}
	return nil
}

// str reads a string; one with escapes is unescaped into the scratch.
func (d *jsonKeyDecoder) str(s *jsonScanner) []byte {
	raw, escaped := s.str()
	if !escaped || s.bad {
		return raw
	}
	var u string
	if json.Unmarshal(s.b[s.last:s.i], &u) != nil {
		s.bad = true
		return nil
	}
	start := len(d.scratch)
	d.scratch = append(d.scratch, u...)
	return d.scratch[start:len(d.scratch):len(d.scratch)]
}

// jsonScanner reads JSON values from b at i; bad marks a syntax error.
type jsonScanner struct {
	b    []byte
	i    int
	last int // where the last string started (its quote)
	bad  bool
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *jsonScanner) expect(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	s.bad = true
	return false
}

// object reads an object, calling member with each member's name (the
// scanner is then at its value, which member must read or skip); member
// returns false to stop at an error.
func (s *jsonScanner) object(member func(name []byte) bool) bool {
	if !s.expect('{') {
		return false
	}
	if s.ws(); s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.ws()
		name, escaped := s.str()
		if s.bad || escaped || !s.expect(':') {
			s.bad = true
			return false
		}
		if !member(name) {
			s.bad = true
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			s.bad = true
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			s.bad = true
			return false
		}
	}
}

// str reads a string and returns its bytes between the quotes, and
// whether it holds escapes.
func (s *jsonScanner) str() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		s.bad = true
		return nil, false
	}
	s.last = s.i
	start := s.i + 1
	escaped := false
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j:j], escaped
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			s.bad = true
			return nil, false
		}
	}
	s.bad = true
	return nil, false
}

// token reads a number or literal's bytes.
func (s *jsonScanner) token() []byte {
	s.ws()
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		s.i++
	}
	if s.i == start {
		s.bad = true
	}
	return s.b[start:s.i]
}

func (s *jsonScanner) number() float64 {
	t := s.token()
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil || (len(t) > 0 && (t[0] == '+' || t[0] == '.' || bytes.ContainsAny(t, "xXpP_iInN"))) {
		s.bad = true // JSON numbers only (ParseFloat also takes hex, Inf, NaN and underscores)
	}
	return f
}

// skip skips a value of any kind.
func (s *jsonScanner) skip() {
	s.ws()
	if s.i >= len(s.b) {
		s.bad = true
		return
	}
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{':
		s.object(func([]byte) bool { s.skip(); return !s.bad })
	case '[':
		s.i++
		if s.ws(); s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return
		}
		for !s.bad {
			s.skip()
			s.ws()
			if s.i >= len(s.b) {
				s.bad = true
				return
			}
			if s.b[s.i] == ']' {
				s.i++
				return
			}
			if s.b[s.i] != ',' {
				s.bad = true
				return
			}
			s.i++
		}
	default:
		t := s.token()
		switch string(t) {
		case "true", "false", "null":
		default:
			if _, err := strconv.ParseFloat(string(t), 64); err != nil {
				s.bad = true
			}
		}
	}
}
