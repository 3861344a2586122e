package xgboost

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Files that look like XGBoost models but are not ones streamscore reads.
var (
	// ErrLegacyBinary is wrapped by the error for a model in XGBoost's
	// deprecated binary format (.model / .bin / .deprecated files, saved by
	// XGBoost < 1.0 or with a non-JSON name).
	ErrLegacyBinary = errors.New("XGBoost legacy binary model format")
	// ErrDump is wrapped by the error for the output of Booster.dump_model
	// or R's xgb.dump: a text or JSON rendering of the trees, not a model.
	ErrDump = errors.New("XGBoost model dump, not a saved model")
)

// HowToResave says how to turn a model file streamscore cannot read into
// one it reads.
const HowToResave = `load the file with XGBoost (Python: xgboost.Booster(model_file=path); R: xgb.load(path)) and re-save it with booster.save_model("model.json") (R: xgb.save(booster, "model.json")), which streamscore reads`

// notAModel returns the error for a legacy binary model or a dump, nil for
// anything else.
func notAModel(data []byte) error {
	switch {
	case IsLegacyBinary(data):
		return fmt.Errorf("%w: streamscore reads XGBoost's JSON and UBJSON models only; %s", ErrLegacyBinary, HowToResave)
	case IsDump(data):
		return fmt.Errorf("%w: a dump (Booster.dump_model, xgb.dump) lists the trees for reading but lacks the objective, base score and feature types a prediction needs; save the booster itself with booster.save_model(\"model.json\") and give streamscore that file", ErrDump)
	}
	return nil
}

// IsLegacyBinary reports whether data is an XGBoost model in the legacy
// binary format: an optional "binf" header, the 136-byte learner
// parameters, then the objective and booster names, each a little-endian
// uint64 length and its bytes. A base64 one starts with "bs64".
func IsLegacyBinary(data []byte) bool {
	if bytes.HasPrefix(data, []byte("bs64")) {
		return true
	}
	p := data
	if bytes.HasPrefix(p, []byte("binf")) {
		p = p[4:]
	}
	const params = 136
	obj, rest, ok := lenString(p, params)
	if !ok || !bytes.ContainsRune(obj, ':') {
		return false
	}
	gbm, _, ok := lenString(rest, 0)
	if !ok {
		return false
	}
	switch string(gbm) {
	case "gbtree", "gblinear", "dart":
		return true
	}
	return false
}

// lenString reads a uint64-length-prefixed printable name at offset off.
func lenString(b []byte, off int) (name, rest []byte, ok bool) {
	if len(b) < off+8 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint64(b[off:])
	if n == 0 || n > 64 || uint64(len(b)-off-8) < n {
		return nil, nil, false
	}
	name = b[off+8 : off+8+int(n)]
	for _, c := range name {
		if c < 0x21 || c > 0x7e {
			return nil, nil, false
		}
	}
	return name, b[off+8+int(n):], true
}

// IsDump reports whether data is a text dump ("booster[0]:" lines) or a
// JSON dump (an array of trees with "nodeid" fields) of an XGBoost model.
func IsDump(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if bytes.HasPrefix(t, []byte("booster[")) {
		return true
	}
	if len(t) == 0 || t[0] != '[' {
		return false
	}
	head := t[:min(len(t), 4096)]
	return bytes.Contains(head, []byte(`"nodeid"`)) || bytes.Contains(head, []byte(`\"nodeid\"`))
}

// quoteNonFinite returns data with the bare NaN, Infinity and -Infinity
// literals XGBoost writes (JSON has none) turned into strings, which the
// number readers parse; data itself when it has none.
func quoteNonFinite(data []byte) []byte {
	var out []byte
	last := 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		var lit string
		switch c {
		case '"':
			inString = true
			continue
		case 'N':
			lit = "NaN"
		case 'I':
			lit = "Infinity"
		case '-':
			lit = "-Infinity"
		default:
			continue
		}
		if !bytes.HasPrefix(data[i:], []byte(lit)) {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(data)+64)
		}
		out = append(out, data[last:i]...)
		out = append(out, '"')
		out = append(out, lit...)
		out = append(out, '"')
		i += len(lit) - 1
		last = i + 1
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}
