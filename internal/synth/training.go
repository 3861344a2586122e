package synth

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// WriteTraining writes n labelled rows as CSV: a header of the feature
// names and "label", then one row per generated event with the features
// computed by the serving feature code (scoring.Plan) and the generator's
// ground truth (1 = fraud or takeover). Missing values are written as "nan".
func WriteTraining(w io.Writer, g *Generator, kind schemas.EventType, specs []scoring.FeatureSpec, n int, start time.Time) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	plan, err := scoring.Compile(names, specs)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for i, name := range names {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(name)
	}
	bw.WriteString(",label\n")
	var ev schemas.Event
	row := make([]float32, len(names))
	buf := make([]byte, 0, 32)
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * time.Second)
		var positive bool
		if kind == schemas.Activity {
			positive = g.Activity(&ev, at)
		} else {
			positive = g.Transaction(&ev, at)
		}
		if err := plan.Extract(&ev, row); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		for k, v := range row {
			if k > 0 {
				bw.WriteByte(',')
			}
			if math.IsNaN(float64(v)) {
				bw.WriteString("nan")
				continue
			}
			buf = strconv.AppendFloat(buf[:0], float64(v), 'g', -1, 32)
			bw.Write(buf)
		}
		if positive {
			bw.WriteString(",1\n")
		} else {
			bw.WriteString(",0\n")
		}
	}
	return bw.Flush()
}
