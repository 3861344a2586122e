package synth

import (
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

// TruthColumn is the ground truth column of a log file: 1 for fraud (a
// transaction) or takeover (an activity event), else 0. It is not named
// label: that is a prediction column of `streamscore score`.
const TruthColumn = "ground_truth"

// logFields are the event fields of a log file after its identity
// columns: the transaction fields, then the activity fields.
var logFields = []string{"amount", "currency", "merchant", "merchant_category", "country", "channel", "card_present",
	"activity_type", "device", "ip_country", "new_device"}

// LogColumns are the columns of a log file written with names: the kind
// (event_type, as `streamscore score` reads it), the identity fields, every
// field of either kind (empty on rows of the other kind), then the label.
func LogColumns(names schemas.FieldNames) []string {
	cols := append([]string{"event_type", names.ID, names.Entity, names.Time}, logFields...)
	return append(cols, TruthColumn)
}

// errStop ends a log early.
var errStop = errors.New("stop")

// WriteLog writes g's stream (Log) from start, at rate events per second
// of event time, as CSV in time order with LogColumns: a file of both
// kinds that `streamscore score` reads as a log. stop is called after each
// event with its kind and ends the log when it returns true. Times are
// RFC 3339 with milliseconds. It returns the number of events written.
func WriteLog(w io.Writer, g *Generator, start time.Time, rate float64, stop func(schemas.EventType) bool) (int, error) {
	cw := csv.NewWriter(w)
	cols := LogColumns(g.names)
	if err := cw.Write(cols); err != nil {
		return 0, err
	}
	rec := make([]string, len(cols))
	var buf []byte
	n := 0
	err := g.Log(math.MaxInt, start, rate, func(ev *schemas.Event, kind schemas.EventType, positive bool) error {
		clear(rec)
		rec[0] = string(kind)
		for i, name := range cols[1 : len(cols)-1] {
			v, ok := ev.Field(name)
			if !ok {
				continue
			}
			switch {
			case name == g.names.Time:
				rec[i+1] = schemas.FormatTime(time.UnixMilli(int64(v.Num)))
			case v.Kind == schemas.String:
				rec[i+1] = v.Str
			case v.Kind == schemas.Bool:
				rec[i+1] = strconv.FormatBool(v.Num != 0)
			case v.Kind == schemas.Number:
				buf = strconv.AppendFloat(buf[:0], v.Num, 'g', -1, 64)
				rec[i+1] = string(buf)
			}
		}
		rec[len(rec)-1] = "0"
		if positive {
			rec[len(rec)-1] = "1"
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
		n++
		if stop(kind) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return n, err
	}
	cw.Flush()
	return n, cw.Error()
}
