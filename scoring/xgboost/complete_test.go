package xgboost

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// walkOnly returns a copy of m that always uses the general node walk.
func walkOnly(m *Model) *Model {
	c := *m
	c.complete = nil
	return &c
}

// trickyRows draws rows mixing ordinary values with NaN, ±Inf, ±0, the
// model's own split conditions and their float32 neighbours.
func trickyRows(m *Model, n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	var splits []float32
	for _, nd := range m.nodes {
		if nd.left != 0 {
			splits = append(splits, nd.split)
		}
	}
	x := make([]float32, n*m.nfeat)
	for i := range x {
		switch r := rng.IntN(10); {
		case r == 0:
			x[i] = float32(math.NaN())
		case r == 1:
			x[i] = []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32}[rng.IntN(6)]
		case r < 6:
			s := splits[rng.IntN(len(splits))]
			x[i] = []float32{s, math.Nextafter32(s, float32(math.Inf(-1))), math.Nextafter32(s, float32(math.Inf(1)))}[rng.IntN(3)]
		default:
			x[i] = float32(rng.NormFloat64() * 100)
		}
	}
	return x
}

func TestCompleteLayoutEqualsWalk(t *testing.T) {
	for _, name := range []string{"xgb_fraud.json", "xgb_reg.ubj", "xgb_multi.json"} {
		t.Run(name, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", name), "")
			if err != nil {
				t.Fatal(err)
			}
			if m.complete == nil {
				t.Fatal("fast layout not built")
			}
			for _, n := range []int{1, 7, 8, 63, 64, 65, 1000} {
				x := trickyRows(m, n, uint64(n))
				fast := make([]float32, n*m.groups)
				slow := make([]float32, n*m.groups)
				if err := m.PredictMargin(x, fast); err != nil {
					t.Fatal(err)
				}
				if err := walkOnly(m).PredictMargin(x, slow); err != nil {
					t.Fatal(err)
				}
				for i := range fast {
					if math.Float32bits(fast[i]) != math.Float32bits(slow[i]) {
						t.Fatalf("n=%d output %d: fast %v, walk %v (row %v)", n, i, fast[i], slow[i], x[(i/m.groups)*m.nfeat:(i/m.groups+1)*m.nfeat])
					}
				}
			}
		})
	}
}

// TestWideRows pads the fraud model to 40 features (the trees use the
// first 8), which takes the variable-stride walk.
func TestWideRows(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "xgb_fraud.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	names := []string{}
	for i := 0; i < 32; i++ {
		names = append(names, strconv.Quote("pad"+strconv.Itoa(i)))
	}
	s = strings.Replace(s, `"velocity_ratio"]`, `"velocity_ratio",`+strings.Join(names, ",")+`]`, 1)
	s = strings.ReplaceAll(s, `"num_feature":"8"`, `"num_feature":"40"`)
	wide, err := Parse([]byte(s), "wide")
	if err != nil {
		t.Fatal(err)
	}
	narrow, _ := Load(filepath.Join("testdata", "xgb_fraud.json"), "")
	if wide.nfeat != 40 || wide.complete == nil {
		t.Fatalf("nfeat %d, layout %v", wide.nfeat, wide.complete != nil)
	}
	const n = 100
	xn := trickyRows(narrow, n, 9)
	xw := make([]float32, n*40)
	for r := 0; r < n; r++ {
		copy(xw[r*40:], xn[r*8:(r+1)*8])
		for k := 8; k < 40; k++ {
			xw[r*40+k] = float32(k)
		}
	}
	a, b := make([]float32, n), make([]float32, n)
	narrow.Predict(xn, a)
	wide.Predict(xw, b)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("row %d: wide %v, narrow %v", i, b[i], a[i])
		}
	}
}

func TestKeyOrder(t *testing.T) {
	vals := []float32{float32(math.Inf(-1)), -math.MaxFloat32, -1, -math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1)), 0,
		math.SmallestNonzeroFloat32, 1, math.MaxFloat32, float32(math.Inf(1))}
	for i := range vals {
		for j := range vals {
			if (vals[i] >= vals[j]) != (key(vals[i]) >= key(vals[j])) {
				t.Errorf("%v >= %v disagrees with keys", vals[i], vals[j])
			}
		}
	}
}

func TestWalkTreeMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const groups = 3
	rows := make([]int64, groups*8*rowStride)
	for d := 0; d <= 7; d++ {
		nodes := make([]cnode, 1<<d)
		leaves := make([]float32, 1<<d)
		for i := range nodes {
			nodes[i] = cnode{split: rng.Uint32(), slot: uint32(rng.IntN(rowStride))}
			leaves[i] = float32(rng.NormFloat64())
		}
		for i := range rows {
			rows[i] = int64(rng.Uint32())
		}
		for _, g := range []int{1, 3} {
			a, b := make([]float32, groups*8*g), make([]float32, groups*8*g)
			for i := range a {
				a[i] = float32(i)
				b[i] = float32(i)
			}
			nb, xb, lp := unsafe.Pointer(&nodes[0]), unsafe.Pointer(&rows[0]), unsafe.Pointer(&leaves[0])
			walkTree(nb, xb, d, groups, lp, unsafe.Pointer(&a[g-1]), uintptr(4*g))
			walkTreeGo(nb, xb, d, groups, lp, unsafe.Pointer(&b[g-1]), uintptr(4*g))
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("depth %d groups %d: acc[%d] asm %v, Go %v", d, g, i, a[i], b[i])
				}
			}
		}
	}
}
