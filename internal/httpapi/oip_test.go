package httpapi

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/load"
)

// inferHandler serves xgb_fraud (8 inputs) with the given limits.
func inferHandler(t testing.TB, maxBody int64, maxBatch int) http.Handler {
	t.Helper()
	m, err := load.Model(refDir+"xgb_fraud.json", load.Auto, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scoring.NewScorer(m, nil, scoring.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Models: modelset.Static(map[string]*scoring.Scorer{"transactions": s}),
		Names: schemas.DefaultFieldNames, MaxBodyBytes: maxBody, MaxBatch: maxBatch,
		Inputs: []Input{{"transactions", schemas.Transaction}}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// infer posts body to xgb_fraud's infer and returns the status, the
// error message and the scores.
func infer(t testing.TB, h http.Handler, body string) (int, string, []float64) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v2/models/xgb_fraud/infer", strings.NewReader(body)))
	var resp struct {
		Error   string `json:"error"`
		Outputs []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%d %.200s: %v", rec.Code, rec.Body.Bytes(), err)
	}
	var scores []float64
	if len(resp.Outputs) > 0 {
		scores = resp.Outputs[0].Data
	}
	return rec.Code, resp.Error, scores
}

func inferBody(shape string, data string) string {
	return `{"inputs":[{"name":"input","shape":` + shape + `,"datatype":"FP32","data":` + data + `}]}`
}

// TestInferData: the data of an input tensor is read flat or nested as
// deep as its shape, and anything else is refused naming the element.
func TestInferData(t *testing.T) {
	h := inferHandler(t, 4096, 5)
	r0, r1 := "100,3,0.5,1,20,300,0.1,1.2", "5000,23,null,8,900,2,0.9,5"
	_, _, want := infer(t, h, inferBody("[2,8]", "["+r0+","+r1+"]"))
	if len(want) != 2 {
		t.Fatalf("flat: scores %v", want)
	}
	for _, tc := range []struct {
		name, shape, data string
	}{
		{"nested", "[2,8]", "[[" + r0 + "],[" + r1 + "]]"},
		{"nested, spaced", "[2,8]", " [ [" + r0 + "] ,\n\t[" + r1 + "] ] "},
	} {
		c, msg, got := infer(t, h, inferBody(tc.shape, tc.data))
		if c != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %d %q %v, want the flat form's scores %v", tc.name, c, msg, got, want)
		}
	}
	for _, tc := range []struct {
		name, shape, data, want string
	}{
		{"deeper than the shape", "[1,8]", "[[[" + r0 + "]]]",
			"inputs[0].data: element [0][0] is an array, nested deeper than the 2 dimensions of shape [1 8]"},
		{"deeper in a later row", "[2,8]", "[[" + r0 + "],[5000,[23],0.5,8,900,2,0.9,5]]",
			"inputs[0].data: element [1][1] is an array, nested deeper than the 2 dimensions of shape [2 8]"},
		// rows of uneven length whose total is right: not re-cut into rows
		{"ragged rows", "[2,8]", "[[" + r0 + ",9],[5000,23,null,8,900,2,0.9]]",
			"inputs[0].data: element [0] has 9 values, want 8 for shape [2 8]"},
		{"too few rows, nested", "[2,8]", "[[" + r0 + "]]", "inputs[0].data: data has 1 values, want 2 for shape [2 8]"},
		{"numbers among rows", "[2,8]", "[[" + r0 + "],5000,23,null,8,900,2,0.9,5]",
			"inputs[0].data: element [1] is a number where shape [2 8] wants an array"},
		{"a row in flat data", "[2,8]", "[" + r0 + ",[" + r1 + "]]",
			"inputs[0].data: element [8] is an array in flat data (the data is flat or nested as its shape, not both)"},
		{"a string", "[1,8]", `["a",3,0.5,1,20,300,0.1,1.2]`, `inputs[0].data: element [0] is "a", not a number`},
		{"a boolean, nested", "[1,8]", `[[100,3,true,1,20,300,0.1,1.2]]`, `inputs[0].data: element [0][2] is true, not a number`},
		{"an object", "[1,8]", `[100,3,0.5,1,20,300,0.1,{"x":1}]`, `inputs[0].data: element [7] is {"x":1}, not a number`},
		{"out of range", "[1,8]", `[100,3,0.5,1e400,20,300,0.1,1.2]`, `inputs[0].data: element [3] is 1e400, out of the range of a float64`},
		{"too few", "[1,8]", `[1,2,3]`, "inputs[0].data: want 8 numbers for shape [1 8], got 3"},
		{"too many", "[1,8]", "[" + r0 + ",9]", "inputs[0].data: want 8 numbers for shape [1 8], got 9"},
		{"null", "[1,8]", `null`, "inputs[0].data: want 8 numbers for shape [1 8], got 0"},
		{"not an array", "[1,8]", `5`, "inputs[0].data: want an array of numbers, got 5"},
	} {
		c, msg, _ := infer(t, h, inferBody(tc.shape, tc.data))
		if c != 400 || msg != tc.want {
			t.Errorf("%s: %d %q, want 400 %q", tc.name, c, msg, tc.want)
		}
	}
	if c, msg, _ := infer(t, h, `{"inputs":[{"shape":[1,8],"datatype":"FP32"}]}`); c != 400 || msg != "inputs[0].data: missing: want an array of numbers" {
		t.Errorf("no data: %d %q", c, msg)
	}
}

// TestInferAdversarialBodies: a body costs in proportion to its size,
// however deep its arrays (data is read once, and no deeper than the
// shape) and however many numbers it holds (none is decoded alone).
func TestInferAdversarialBodies(t *testing.T) {
	h := inferHandler(t, 1<<20, 20000)
	inner := "[" + strings.TrimSuffix(strings.Repeat("0.5,", 25000), ",") + "]" // 100 KB, 25,000 numbers
	deep := strings.Repeat("[", 999) + inner + strings.Repeat("]", 999)         // 1,000 levels
	row := "[" + strings.TrimSuffix(strings.Repeat("0.5,", 8), ",") + "]"
	wide := "[" + strings.TrimSuffix(strings.Repeat(row+",", 12500), ",") + "]" // 100,000 numbers, 420 KB
	for _, tc := range []struct {
		name, shape, data string
		code              int
		want              string
	}{
		{"1,000 levels deep", "[3125,8]", deep, 400, "inputs[0].data: element [0][0] is an array, nested deeper than the 2 dimensions of shape [3125 8]"},
		{"100,000 numbers", "[12500,8]", wide, 200, ""},
	} {
		body := inferBody(tc.shape, tc.data)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c, msg, scores := infer(t, h, body)
		runtime.ReadMemStats(&after)
		if c != tc.code || msg != tc.want || (c == 200 && len(scores) != 12500) {
			t.Errorf("%s: %d %.200q (%d scores), want %d %q", tc.name, c, msg, len(scores), tc.code, tc.want)
		}
		// the body (up to 0.5 MB), read and copied, the rows as float64 and
		// float32, the scores and the response: a few MB
		alloc := after.TotalAlloc - before.TotalAlloc
		if alloc > 16<<20 {
			t.Errorf("%s: a %d KB body allocated %d MB", tc.name, len(body)>>10, alloc>>20)
		}
		t.Logf("%s: a %d KB body allocated %.1f MB", tc.name, len(body)>>10, float64(alloc)/(1<<20))
	}
}

// parseInfer reads an infer request's body and its tensor's data, as
// oipInfer does before scoring.
func parseInfer(body []byte, nf int) ([]float64, error) {
	var req inferRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	in := req.Inputs[0]
	flat, count, err := tensorData(in.Data, in.Shape, in.Shape[0]*nf)
	if err == nil && count != in.Shape[0]*nf {
		err = fmt.Errorf("%d numbers", count)
	}
	return flat, err
}

// BenchmarkInferParse: an infer request of 500 rows of 21 FP32 features
// (about 107 KB, nested or flat), read up to the rows the model is given.
func BenchmarkInferParse(b *testing.B) {
	const rows, nf = 500, 21
	rng := rand.New(rand.NewPCG(1, 2))
	nested, flat := make([][]float32, rows), make([]float32, 0, rows*nf)
	for r := range nested {
		for range nf {
			v := float32(rng.NormFloat64() * 100)
			nested[r] = append(nested[r], v)
			flat = append(flat, v)
		}
	}
	for _, form := range []struct {
		name string
		data any
	}{{"nested", nested}, {"flat", flat}} {
		body, err := json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "input", "shape": []int{rows, nf}, "datatype": "FP32", "data": form.data}}})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(form.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				x, err := parseInfer(body, nf)
				if err != nil || len(x) != rows*nf || float32(x[rows*nf-1]) != flat[rows*nf-1] {
					b.Fatalf("%v: %d numbers", err, len(x))
				}
			}
		})
	}
}
