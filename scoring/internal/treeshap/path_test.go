package treeshap

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// tree is a small binary tree for the tests: node i splits on feat[i] at
// thr[i] (x < thr goes left) unless it is a leaf (left[i] < 0); cover is
// the training weight at each node (a split's the sum of its children's).
type tree struct {
	feat        []int
	thr, value  []float64
	cover       []float64
	left, right []int
}

// randTree grows a random tree of at most depth levels over nf features
// (features repeat on paths, so Unwind is exercised), with positive integer
// covers that add up.
func randTree(rng *rand.Rand, depth, nf int) *tree {
	t := &tree{}
	var grow func(d int, cover float64) int
	grow = func(d int, cover float64) int {
		i := len(t.feat)
		t.feat = append(t.feat, rng.IntN(nf))
		t.thr = append(t.thr, float64(rng.IntN(5)))
		t.value = append(t.value, rng.NormFloat64())
		t.cover = append(t.cover, cover)
		t.left, t.right = append(t.left, -1), append(t.right, -1)
		if d == depth || cover < 2 || (d > 1 && rng.IntN(4) == 0) {
			return i
		}
		lc := float64(1 + rng.IntN(int(cover)-1))
		l := grow(d+1, lc)
		r := grow(d+1, cover-lc)
		t.left[i], t.right[i] = l, r
		return i
	}
	grow(0, float64(20+rng.IntN(200)))
	return t
}

// expect is the path-dependent expectation of the tree's output given the
// features in known take the row's values: at a split on an unknown
// feature, the children's expectations weighted by their covers.
func (t *tree) expect(x []float64, known uint, i int) float64 {
	if t.left[i] < 0 {
		return t.value[i]
	}
	l, r := t.left[i], t.right[i]
	if known&(1<<t.feat[i]) != 0 {
		if x[t.feat[i]] < t.thr[i] {
			return t.expect(x, known, l)
		}
		return t.expect(x, known, r)
	}
	return (t.cover[l]*t.expect(x, known, l) + t.cover[r]*t.expect(x, known, r)) / t.cover[i]
}

// bruteForce is the Shapley value of each of nf features for the game
// v(S) = expect(x, S), from enumerating every subset.
func (t *tree) bruteForce(x []float64, nf int) []float64 {
	phi := make([]float64, nf)
	fact := func(n int) float64 { return math.Gamma(float64(n + 1)) }
	for i := range nf {
		for s := uint(0); s < 1<<nf; s++ {
			if s&(1<<i) != 0 {
				continue
			}
			k := 0
			for j := range nf {
				if s&(1<<j) != 0 {
					k++
				}
			}
			w := fact(k) * fact(nf-k-1) / fact(nf)
			phi[i] += w * (t.expect(x, s|1<<i, 0) - t.expect(x, s, 0))
		}
	}
	return phi
}

// treeShap is algorithm 2 of Lundberg et al. driven by this package's
// path arithmetic, in precision F.
func treeShap[F Float](t *tree, x []float64, nf int) []F {
	phi := make([]F, nf)
	var recurse func(i int, parent []Elem[F], pz, po F, pf int32)
	recurse = func(i int, parent []Elem[F], pz, po F, pf int32) {
		path := append(append([]Elem[F](nil), parent...), Elem[F]{})
		Extend(path, pz, po, pf)
		if t.left[i] < 0 {
			v := F(t.value[i])
			for k := 1; k < len(path); k++ {
				w := UnwoundSum(path, k)
				phi[path[k].Feat] += F(w * (path[k].One - path[k].Zero) * v)
			}
			return
		}
		hot, cold := t.left[i], t.right[i]
		if !(x[t.feat[i]] < t.thr[i]) {
			hot, cold = cold, hot
		}
		f := int32(t.feat[i])
		iz, io := F(1), F(1)
		for k := 1; k < len(path); k++ {
			if path[k].Feat == f {
				iz, io = path[k].Zero, path[k].One
				path = Unwind(path, k)
				break
			}
		}
		c := F(t.cover[i])
		recurse(hot, path, iz*(F(t.cover[hot])/c), io, f)
		recurse(cold, path, iz*(F(t.cover[cold])/c), 0, f)
	}
	recurse(0, nil, 1, 1, -1)
	return phi
}

// TestTreeShapBruteForce: on random trees (features repeated on a path,
// lopsided covers) and rows, TreeSHAP with Extend, Unwind and UnwoundSum
// gives the Shapley values from enumerating every subset: to float64
// rounding in float64, within float32 rounding in float32; and the
// contributions add up to f(x) − E[f].
func TestTreeShapBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ depth, nf int }{{1, 1}, {2, 2}, {3, 3}, {5, 3}, {6, 4}, {8, 5}, {10, 2}} {
		for range 20 {
			tr := randTree(rng, c.depth, c.nf)
			for range 5 {
				x := make([]float64, c.nf)
				for j := range x {
					x[j] = float64(rng.IntN(6)) - 0.5
				}
				want := tr.bruteForce(x, c.nf)
				got64 := treeShap[float64](tr, x, c.nf)
				got32 := treeShap[float32](tr, x, c.nf)
				sum, scale := 0.0, 1.0
				for j, w := range want {
					sum += got64[j]
					scale = math.Max(scale, math.Abs(w))
				}
				for j, w := range want {
					if d := math.Abs(got64[j] - w); d > 1e-12*scale {
						t.Fatalf("depth %d: feature %d: float64 %v, brute force %v (row %v)", c.depth, j, got64[j], w, x)
					}
					if d := math.Abs(float64(got32[j]) - w); d > 1e-5*scale {
						t.Fatalf("depth %d: feature %d: float32 %v, brute force %v (row %v)", c.depth, j, got32[j], w, x)
					}
				}
				if d := sum - (tr.expect(x, 1<<c.nf-1, 0) - tr.expect(x, 0, 0)); math.Abs(d) > 1e-12*scale {
					t.Fatalf("depth %d: contributions sum to f(x) − E[f] %+v off", c.depth, d)
				}
			}
		}
	}
}

// TestUnwindUndoesExtend: unwinding the element just added gives back the
// path's weights, and UnwoundSum of an element is the sum of the weights
// Unwind leaves.
func TestUnwindUndoesExtend(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		n := 1 + rng.IntN(8)
		path := make([]Elem[float64], 0, n+1)
		for k := range n {
			path = append(path, Elem[float64]{})
			one := float64(rng.IntN(2))
			Extend(path, 0.05+0.9*rng.Float64(), one, int32(k))
		}
		before := append([]Elem[float64](nil), path...)
		path = append(path, Elem[float64]{})
		Extend(path, 0.3, 1, 99)
		k := rng.IntN(len(path)-1) + 1
		sum := UnwoundSum(path, k)
		probe := append([]Elem[float64](nil), path...)
		probe = Unwind(probe, k)
		total := 0.0
		for _, e := range probe {
			total += e.W
		}
		if math.Abs(sum-total) > 1e-12*math.Max(1, math.Abs(total)) {
			t.Fatalf("UnwoundSum %v, weights after Unwind sum to %v", sum, total)
		}
		path = Unwind(path, len(path)-1)
		for i := range before {
			if d := math.Abs(path[i].W - before[i].W); d > 1e-12 || path[i].Feat != before[i].Feat {
				t.Fatalf("element %d after Extend+Unwind: %+v, before %+v", i, path[i], before[i])
			}
		}
	}
}

// ExampleUnwoundSum: a stump on feature 0 (cover 10, children 4 and 6,
// leaf values 1 and 2) and a row that goes left: feature 0's contribution
// is the left leaf's value minus the tree's expectation, 1 − 1.6.
func ExampleUnwoundSum() {
	phi := 0.0
	for _, leaf := range []struct{ zero, one, v float64 }{{0.4, 1, 1}, {0.6, 0, 2}} {
		path := make([]Elem[float64], 2)
		Extend(path[:1], 1, 1, -1) // the root's placeholder
		Extend(path, leaf.zero, leaf.one, 0)
		phi += UnwoundSum(path, 1) * (path[1].One - path[1].Zero) * leaf.v
	}
	fmt.Printf("%.1f\n", phi)
	// Output: -0.6
}
