package treeshap

// Float is the precision the path arithmetic runs in.
type Float interface {
	~float32 | ~float64
}

// Elem is one distinct feature on the path: its index (−1 for the root's
// placeholder), its zero and one fractions, and W, the permutation weight
// of the subsets with as many "one" features as the element's position.
type Elem[F Float] struct {
	Feat      int32
	Zero, One F
	W         F
}

// Extend is EXTEND in place: path holds the path so far and one more
// element, which becomes feature feat with fractions zero and one; the
// weights are updated for the longer path.
func Extend[F Float](path []Elem[F], zero, one F, feat int32) {
	l := len(path) - 1
	path[l] = Elem[F]{Feat: feat, Zero: zero, One: one}
	if l == 0 {
		path[l].W = 1
	}
	dd := F(l + 1)
	for i := l - 1; i >= 0; i-- {
		path[i+1].W += F(one*path[i].W*F(i+1)) / dd
		path[i].W = zero * path[i].W * F(l-i) / dd
	}
}

// Unwind is UNWIND in place: path without element i, whose extension it
// undoes; the shorter path is returned. Element i must not have both
// fractions 0.
func Unwind[F Float](path []Elem[F], i int) []Elem[F] {
	l := len(path) - 1
	one, zero := path[i].One, path[i].Zero
	next := path[l].W
	dd := F(l + 1)
	for j := l - 1; j >= 0; j-- {
		if one != 0 {
			tmp := path[j].W
			path[j].W = next * dd / (F(j+1) * one)
			next = tmp - F(path[j].W*zero*F(l-j))/dd
		} else {
			path[j].W = (path[j].W * dd) / (zero * F(l-j))
		}
	}
	for j := i; j < l; j++ {
		path[j].Feat, path[j].Zero, path[j].One = path[j+1].Feat, path[j+1].Zero, path[j+1].One
	}
	return path[:l]
}

// UnwoundSum is the total permutation weight of path with element i
// unwound, without changing path (an element with both fractions 0 adds
// nothing).
func UnwoundSum[F Float](path []Elem[F], i int) F {
	l := len(path) - 1
	one, zero := path[i].One, path[i].Zero
	next := path[l].W
	dd := F(l + 1)
	var total F
	for j := l - 1; j >= 0; j-- {
		switch {
		case one != 0:
			tmp := next * dd / (F(j+1) * one)
			total += tmp
			next = path[j].W - F(tmp*zero*(F(l-j)/dd))
		case zero != 0:
			total += (path[j].W / zero) / (F(l-j) / dd)
		}
	}
	return total
}
