package fmath

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestExpGlibc compares Exp with glibc's exp on the inputs of
// testdata/exp_glibc.txt (written by testdata/gen_exp_glibc.py through
// ctypes): ordinary, tiny, near-overflow and subnormal results, random bit
// patterns. Every result must be the same double.
func TestExpGlibc(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "exp_glibc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, goOff := 0, 0
	for sc.Scan() {
		p := strings.Fields(sc.Text())
		x, err1 := strconv.ParseFloat(p[0], 64)
		want, err2 := strconv.ParseFloat(p[1], 64)
		if len(p) != 2 || err1 != nil || err2 != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		n++
		if got := Exp(x); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("Exp(%v) = %v (%#x), glibc %v (%#x)", x, got, math.Float64bits(got), want, math.Float64bits(want))
		}
		if math.Exp(x) != want {
			goOff++
		}
	}
	if n < 4000 {
		t.Fatalf("%d cases read", n)
	}
	// The point of Exp: math.Exp disagrees with glibc on some of these.
	t.Logf("%d cases; math.Exp differs from glibc on %d", n, goOff)
	if goOff == 0 {
		t.Error("math.Exp agrees everywhere: the cases do not exercise the difference")
	}
	if got := Exp(math.NaN()); got == got {
		t.Errorf("Exp(NaN) = %v", got)
	}
}

// TestExpTable checks the first entries of the table against the values
// glibc's e_exp_data.c lists for 2^(1/128).
func TestExpTable(t *testing.T) {
	if expTable[0] != 0 || expTable[1] != 0x3ff0000000000000 ||
		expTable[2] != 0x3c9b3b4f1a88bf6e || expTable[3] != 0x3feff63da9fb3335 {
		t.Errorf("table starts %#x", expTable[:4])
	}
}
