package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/streamscore/streamscore/scoring"
)

// Open Inference Protocol v2 (the KServe "v2" REST API).

type tensorMeta struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

func (s *server) oipMetadata(w http.ResponseWriter, r *http.Request) {
	route := s.model(r.PathValue("name"))
	if route == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", r.PathValue("name")))
		return
	}
	info := route.Scorer().Info()
	dt := "FP32"
	if route.Scorer().Float64Input() {
		dt = "FP64"
	}
	outputs := []tensorMeta{{Name: "score", Datatype: "FP32", Shape: []int{-1}}}
	if info.Output == scoring.MultiClass {
		outputs = append(outputs, tensorMeta{Name: "scores", Datatype: "FP32", Shape: []int{-1, info.Classes}})
	}
	_, explainErr := route.Scorer().Explainer()
	if explainErr == nil { // with parameters.contributions
		outputs = append(outputs, tensorMeta{Name: "contributions", Datatype: "FP32", Shape: []int{-1, info.Outputs(), len(info.Features) + 1}})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":     info.Name,
		"versions": []string{info.Version},
		"platform": "streamscore-" + info.Format,
		"inputs":   []tensorMeta{{Name: "input", Datatype: dt, Shape: []int{-1, len(info.Features)}}},
		"outputs":  outputs,
		"parameters": map[string]any{
			"features": info.Features, "output": info.Output.String(), "classes": info.Classes,
			"contributions": explainErr == nil,
		},
	})
}

func (s *server) oipModelReady(w http.ResponseWriter, r *http.Request) {
	route := s.model(r.PathValue("name"))
	if route == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": route.Scorer().Info().Name, "ready": true})
}

type inferInput struct {
	Name     string          `json:"name"`
	Shape    []int           `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

type inferRequest struct {
	ID         string       `json:"id"`
	Inputs     []inferInput `json:"inputs"`
	Parameters struct {
		// Contributions asks for the output "contributions": every row's
		// feature contributions, [N, G, F+1] in scoring.Explainer's layout.
		Contributions bool `json:"contributions"`
	} `json:"parameters"`
}

type inferOutput struct {
	Name     string    `json:"name"`
	Shape    []int     `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float32 `json:"data"`
}

func (s *server) oipInfer(w http.ResponseWriter, r *http.Request) {
	route := s.model(r.PathValue("name"))
	if route == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", r.PathValue("name")))
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req inferRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if len(req.Inputs) != 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("inputs: want exactly one input tensor [N, F], got %d", len(req.Inputs)))
		return
	}
	in := req.Inputs[0]
	sc := route.Scorer()
	info := sc.Info()
	nf := len(info.Features)
	if in.Datatype != "FP32" && in.Datatype != "FP64" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("inputs[0].datatype: want FP32 or FP64, got %q", in.Datatype))
		return
	}
	if len(in.Shape) != 2 || in.Shape[1] != nf || in.Shape[0] < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("inputs[0].shape: want [N, %d] with N >= 1 (the model's inputs in model order), got %v", nf, in.Shape))
		return
	}
	n := in.Shape[0]
	if n > s.o.MaxBatch {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("inputs[0].shape: N=%d exceeds the limit of %d (HTTP_MAX_BATCH)", n, s.o.MaxBatch))
		return
	}
	flat, count, err := tensorData(in.Data, in.Shape, n*nf)
	if err != nil {
		writeError(w, http.StatusBadRequest, "inputs[0].data: "+err.Error())
		return
	}
	if count != n*nf {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("inputs[0].data: want %d numbers for shape %v, got %d", n*nf, in.Shape, count))
		return
	}
	k := info.Outputs()
	var explainer scoring.Explainer
	if req.Parameters.Contributions {
		e, err := sc.Explainer()
		if err != nil {
			writeError(w, http.StatusBadRequest, "parameters.contributions: "+err.Error())
			return
		}
		explainer = e
	}
	out := make([]float32, n*k)
	if f, ok := sc.Model().(scoring.Float64Model); ok && f.Float64Input() {
		err = f.Predict64(flat, out)
	} else {
		x := make([]float32, len(flat))
		for i, v := range flat {
			x[i] = float32(v)
		}
		err = sc.Model().Predict(x, out)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "model: "+err.Error())
		return
	}
	score := make([]float32, n)
	for r := 0; r < n; r++ {
		score[r] = float32(sc.Policy().Decide(info.Output, out[r*k:(r+1)*k]).Score)
	}
	outputs := []inferOutput{{Name: "score", Shape: []int{n}, Datatype: "FP32", Data: score}}
	if info.Output == scoring.MultiClass {
		outputs = append(outputs, inferOutput{Name: "scores", Shape: []int{n, k}, Datatype: "FP32", Data: out})
	}
	if explainer != nil {
		contrib := make([]float32, n*scoring.ContributionLen(info))
		var err error
		if e64, ok := explainer.(scoring.Explainer64); ok && sc.Float64Input() {
			err = e64.Explain64(flat, contrib) // the rows as the model routes them
		} else {
			x := make([]float32, len(flat))
			for i, v := range flat {
				x[i] = float32(v)
			}
			err = explainer.Explain(x, contrib)
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "contributions: "+err.Error())
			return
		}
		outputs = append(outputs, inferOutput{Name: "contributions", Shape: []int{n, k, nf + 1}, Datatype: "FP32", Data: contrib})
	}
	resp := map[string]any{"model_name": info.Name, "model_version": info.Version, "outputs": outputs}
	if req.ID != "" {
		resp["id"] = req.ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// tensorReader reads an input tensor's data; pooled, so that a request
// reuses a decoder's state instead of allocating one.
type tensorReader struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

var tensorReaders = sync.Pool{New: func() any { return new(tensorReader) }}

// tensorData reads an input tensor's data in one pass over raw: numbers
// (null = missing) in row-major order, either flat or in arrays nested as
// the tensor's shape (each array at depth d holding shape[d-1] values),
// the protocol's two forms, not a mix of them. It returns the first
// want numbers and how many numbers raw holds (those past want are
// counted, not kept). raw is a value encoding/json has already validated.
func tensorData(raw []byte, shape []int, want int) ([]float64, int, error) {
	switch b := firstByte(raw); b {
	case '[':
	case 'n': // null: no numbers
		return nil, 0, nil
	case 0:
		return nil, 0, errors.New("missing: want an array of numbers")
	default:
		return nil, 0, fmt.Errorf("want an array of numbers, got %.40s", bytes.TrimSpace(raw))
	}
	// A number takes at least one byte and a comma: no more than that is
	// allocated whatever N the shape claims.
	out := make([]float64, 0, min(want, len(raw)/2+1))
	t := tensorReaders.Get().(*tensorReader)
	defer tensorReaders.Put(t)
	t.buf = *bytes.NewBuffer(raw)
	dec := &t.dec
	dec.Reset(&t.buf)
	defer func() { // the pooled reader keeps no reference to raw
		t.buf = bytes.Buffer{}
		dec.Reset(&t.buf)
	}()
	count := 0
	// The form is the first value's: a number makes the data flat (every
	// value a number), an array nested (every array at depth d < rank
	// holds shape[d-1] arrays, every array at depth rank shape[rank-1]
	// numbers), so that no row is cut from another's numbers.
	const undecided, flat, nested = 0, 1, 2
	form := undecided
	number := func(v float64) error {
		d := dec.StackDepth() // the depth of the array the number is in
		if form == undecided {
			form = flat
		}
		if form == nested && d < len(shape) {
			return fmt.Errorf("element %s is a number where shape %v wants an array", where(dec, d), shape)
		}
		if count < want {
			out = append(out, v)
		}
		count++
		return nil
	}
	for {
		switch dec.PeekKind() {
		case '[':
			d := dec.StackDepth()
			if d >= len(shape) {
				if _, err := dec.ReadToken(); err != nil {
					return nil, 0, err
				}
				return nil, 0, fmt.Errorf("element %s is an array, nested deeper than the %d dimensions of shape %v", where(dec, len(shape)), len(shape), shape)
			}
			if d > 0 && form == undecided {
				form = nested
			}
			if _, err := dec.ReadToken(); err != nil {
				return nil, 0, err
			}
			if form == flat {
				return nil, 0, fmt.Errorf("element %s is an array in flat data (the data is flat or nested as its shape, not both)", where(dec, d))
			}
		case ']':
			if d := dec.StackDepth(); form == nested {
				if _, n := dec.StackIndex(d); n != int64(shape[d-1]) {
					what := "data"
					if d > 1 {
						what = "element " + where(dec, d-1)
					}
					return nil, 0, fmt.Errorf("%s has %d values, want %d for shape %v", what, n, shape[d-1], shape)
				}
			}
			if _, err := dec.ReadToken(); err != nil {
				return nil, 0, err
			}
			if dec.StackDepth() == 0 {
				return out, count, nil
			}
		case 'n':
			if _, err := dec.ReadToken(); err != nil {
				return nil, 0, err
			}
			if err := number(math.NaN()); err != nil {
				return nil, 0, err
			}
		case '0':
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, 0, err
			}
			v, err := tok.Float()
			if err != nil { // out of range
				return nil, 0, fmt.Errorf("element %s is %s, out of the range of a float64", where(dec, dec.StackDepth()), tok.String())
			}
			if err := number(v); err != nil {
				return nil, 0, err
			}
		case 0: // the decoder's error
			_, err := dec.ReadToken()
			return nil, 0, err
		default: // a string, a boolean or an object
			v, err := dec.ReadValue()
			if err != nil {
				return nil, 0, err
			}
			return nil, 0, fmt.Errorf("element %s is %.40s, not a number", where(dec, dec.StackDepth()), v)
		}
	}
}

// where names the value dec read last by its indices in the arrays of the
// first depth levels, as [0][3].
func where(dec *jsontext.Decoder, depth int) string {
	var b []byte
	for i := 1; i <= depth; i++ {
		_, n := dec.StackIndex(i)
		b = append(strconv.AppendInt(append(b, '['), n-1, 10), ']')
	}
	return string(b)
}
