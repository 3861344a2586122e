package lightgbm

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/streamscore/streamscore/scoring/internal/fmath"
)

type objKind int

const (
	objNone       objKind = iota // no objective= line, or "custom": raw score
	objIdentity                  // regression family, ranking
	objSqrt                      // regression with reg_sqrt: sign(x)·x²
	objSigmoid                   // binary: 1/(1+exp(-sigmoid·x))
	objXentropy                  // cross_entropy: 1/(1+exp(-x))
	objXentLambda                // cross_entropy_lambda: log(1+exp(x))
	objExp                       // poisson, gamma, tweedie
	objSoftmax                   // multiclass
	objOVA                       // multiclassova: sigmoid per class
)

type objective struct {
	kind     objKind
	name     string
	sigmoid  float64
	numClass int
}

// parseObjective reads the objective= line as LightGBM's
// ObjectiveFunction::CreateObjectiveFunction(string) does: a name, then
// space-separated options (sqrt, sigmoid:S, num_class:K).
func parseObjective(s string) (objective, error) {
	if s == "" {
		return objective{kind: objNone, name: "none"}, nil
	}
	parts := strings.Fields(s)
	o := objective{name: parts[0], sigmoid: -1, numClass: -1}
	sqrt := false
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		switch {
		case !ok && p == "sqrt":
			sqrt = true
		case ok && k == "sigmoid":
			f, err := atof(v)
			if err != nil {
				return o, fmt.Errorf("objective=%s: sigmoid %q: %w", s, v, err)
			}
			o.sigmoid = f
		case ok && k == "num_class":
			n, err := strconv.Atoi(v)
			if err != nil {
				return o, fmt.Errorf("objective=%s: num_class %q: want an integer", s, v)
			}
			o.numClass = n
		default:
			return o, fmt.Errorf("%w: objective=%s: unknown option %q", ErrUnsupported, s, p)
		}
	}
	switch o.name {
	case "regression", "regression_l1", "quantile", "fair", "mape":
		// RegressionL2loss::ConvertOutput, inherited: sqrt squares back.
		o.kind = objIdentity
		if sqrt {
			o.kind = objSqrt
		}
	case "huber":
		o.kind = objIdentity // RegressionHuberLoss switches sqrt off
	case "lambdarank", "rank_xendcg":
		o.kind = objIdentity
	case "custom":
		o.kind = objNone
	case "poisson", "gamma", "tweedie":
		o.kind = objExp
	case "binary":
		o.kind = objSigmoid
	case "multiclassova":
		o.kind = objOVA
	case "multiclass":
		o.kind = objSoftmax
	case "cross_entropy":
		o.kind = objXentropy
	case "cross_entropy_lambda":
		o.kind = objXentLambda
	default:
		return o, fmt.Errorf("%w: objective=%s (want one of LightGBM's built-in objectives)", ErrUnsupported, s)
	}
	if sqrt && o.kind != objSqrt && o.name != "huber" && o.kind != objExp {
		return o, fmt.Errorf("%w: objective=%s: sqrt is only for the regression objectives", ErrUnsupported, s)
	}
	if o.kind == objSigmoid || o.kind == objOVA {
		if !(o.sigmoid > 0) || math.IsInf(o.sigmoid, 0) {
			return o, fmt.Errorf("objective=%s: want sigmoid:S with S > 0", s)
		}
	}
	if o.kind == objSoftmax || o.kind == objOVA {
		if o.numClass < 2 {
			return o, fmt.Errorf("objective=%s: want num_class:K with K >= 2", s)
		}
	}
	return o, nil
}

// transform applies the objective's ConvertOutput to one row in place, in
// the arithmetic of LightGBM's C++ (double throughout; 1.0f literals are
// exactly 1). std::exp is glibc's exp (fmath.Exp reproduces it bit for
// bit); std::log is math.Log, within an ulp of glibc's.
func (o *objective) transform(row []float64) {
	switch o.kind {
	case objSqrt:
		x := row[0]
		s := 0.0 // Common::Sign: (0 < x) - (x < 0)
		if x > 0 {
			s = 1
		} else if x < 0 {
			s = -1
		}
		row[0] = float64(s*x) * x
	case objSigmoid:
		row[0] = 1 / (1 + fmath.Exp(-o.sigmoid*row[0]))
	case objOVA:
		for k, x := range row {
			row[k] = 1 / (1 + fmath.Exp(-o.sigmoid*x))
		}
	case objXentropy:
		row[0] = 1 / (1 + fmath.Exp(-row[0]))
	case objXentLambda:
		row[0] = math.Log(1 + fmath.Exp(row[0]))
	case objExp:
		row[0] = fmath.Exp(row[0])
	case objSoftmax:
		wmax := row[0]
		for _, x := range row[1:] {
			wmax = max(x, wmax)
		}
		var sum float64
		for k, x := range row {
			e := fmath.Exp(x - wmax)
			row[k] = e
			sum += e
		}
		for k := range row {
			row[k] /= sum
		}
	}
}

// inRange reports whether a leaf value can be the output of the transform
// (used to tell a LightGBM 2.x random forest, whose leaves hold transformed
// values, from a later one).
func (o *objective) inRange(v float64) bool {
	switch o.kind {
	case objSigmoid, objXentropy, objOVA, objSoftmax:
		return v >= 0 && v <= 1
	case objExp, objXentLambda:
		return v >= 0
	case objSqrt:
		return true
	}
	return true
}

// atof parses a number as LightGBM's Common::Atof does (the parser its
// objective options go through): the integer digits accumulated as
// value*10 + d, the fraction digits as one integer divided by 10^n, the
// exponent applied by repeated multiplication. For the short decimals
// LightGBM writes (sigmoid:1, sigmoid:0.5) this is the correctly rounded
// value; it is kept so that a longer one parses to LightGBM's double.
func atof(s string) (float64, error) {
	p := strings.TrimLeft(s, " ")
	sign := 1.0
	if strings.HasPrefix(p, "-") {
		sign, p = -1, p[1:]
	} else if strings.HasPrefix(p, "+") {
		p = p[1:]
	}
	if p == "" || !(p[0] >= '0' && p[0] <= '9' || p[0] == '.' || p[0] == 'e' || p[0] == 'E') {
		f, err := strconv.ParseFloat(s, 64) // nan, inf: LightGBM's special words
		if err != nil {
			return 0, fmt.Errorf("not a number")
		}
		return f, nil
	}
	value := 0.0
	for len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
		value = value*10 + float64(p[0]-'0')
		p = p[1:]
	}
	if len(p) > 0 && p[0] == '.' {
		p = p[1:]
		right, nn := 0.0, 0
		for len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
			right = float64(p[0]-'0') + right*10
			nn++
			p = p[1:]
		}
		value += right / pow(10, nn)
	}
	frac, scale := false, 1.0
	if len(p) > 0 && (p[0] == 'e' || p[0] == 'E') {
		p = p[1:]
		if len(p) > 0 && p[0] == '-' {
			frac, p = true, p[1:]
		} else if len(p) > 0 && p[0] == '+' {
			p = p[1:]
		}
		expon := uint32(0)
		for len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
			expon = expon*10 + uint32(p[0]-'0')
			p = p[1:]
		}
		if expon > 308 {
			expon = 308
		}
		for expon >= 50 {
			scale *= 1e50
			expon -= 50
		}
		for expon >= 8 {
			scale *= 1e8
			expon -= 8
		}
		for expon > 0 {
			scale *= 10
			expon--
		}
	}
	if strings.TrimSpace(p) != "" {
		return 0, fmt.Errorf("not a number")
	}
	if frac {
		return sign * (value / scale), nil
	}
	return sign * (value * scale), nil
}

// pow is LightGBM's Common::Pow for a positive power: squaring for even
// powers, cubing for multiples of three, one multiplication otherwise.
func pow(base float64, power int) float64 {
	switch {
	case power == 0:
		return 1
	case power%2 == 0:
		return pow(base*base, power/2)
	case power%3 == 0:
		return pow(base*base*base, power/3)
	}
	return base * pow(base, power-1)
}
