package rolling

import (
	"fmt"
	"time"
)

// Slots is the number of steps a window is divided into.
const Slots = 60

// Window counts width counters per step over a rolling span.
type Window struct {
	span, step int64 // milliseconds
	width      int
	epochs     [Slots]int64 // step number (time/step) held by each slot; -1 if none
	counts     []uint64     // Slots × width
}

// New returns a window of span (at least Slots milliseconds) holding width
// counters per step.
func New(span time.Duration, width int) (*Window, error) {
	ms := span.Milliseconds()
	if ms < Slots || width <= 0 {
		return nil, fmt.Errorf("rolling: window span %v and width %d: want a span of at least %dms and a width of at least 1", span, width, Slots)
	}
	w := &Window{span: ms, step: (ms + Slots - 1) / Slots, width: width, counts: make([]uint64, Slots*width)}
	for i := range w.epochs {
		w.epochs[i] = -1
	}
	return w, nil
}

// Span is the window's length.
func (w *Window) Span() time.Duration { return time.Duration(w.span) * time.Millisecond }

// Width is the number of counters per step.
func (w *Window) Width() int { return w.width }

// Row returns the counters of the step holding time t (unix milliseconds,
// not negative), to add to, or nil when the slot of that step already
// holds a newer step: t is too old to be in any window from now on.
func (w *Window) Row(t int64) []uint64 {
	if t < 0 {
		return nil
	}
	e := t / w.step
	i := int(e % Slots)
	switch {
	case w.epochs[i] == e:
	case w.epochs[i] < e: // a slot last used Slots or more steps ago: reuse
		w.epochs[i] = e
		clear(w.counts[i*w.width : (i+1)*w.width])
	default: // the slot holds a newer step: t is out of the window
		return nil
	}
	return w.counts[i*w.width : (i+1)*w.width]
}

// Add adds delta to counter k of the step of time t (see Row).
func (w *Window) Add(t int64, k int, delta uint64) {
	if r := w.Row(t); r != nil {
		r[k] += delta
	}
}

// Sum adds to out (len Width) the counters of the steps inside the window
// ending at now (unix milliseconds): the steps numbered now/step − Slots + 1
// … now/step. A step after now is not counted.
func (w *Window) Sum(now int64, out []uint64) {
	if len(out) != w.width {
		panic(fmt.Sprintf("rolling: Sum into %d counters, window has %d", len(out), w.width))
	}
	cur := now / w.step
	for i, e := range w.epochs {
		if e < 0 || e > cur || cur-e >= Slots {
			continue
		}
		for k, v := range w.counts[i*w.width : (i+1)*w.width] {
			out[k] += v
		}
	}
}

// Merge adds the counts of o (same span and width) into w, step by step;
// steps of o that w holds a newer step for are dropped, as are steps older
// than w's.
func (w *Window) Merge(o *Window) error {
	if o.span != w.span || o.width != w.width {
		return fmt.Errorf("rolling: merge a %dms×%d window into a %dms×%d one", o.span, o.width, w.span, w.width)
	}
	for i, e := range o.epochs {
		if e < 0 {
			continue
		}
		switch {
		case w.epochs[i] == e:
		case w.epochs[i] < e:
			w.epochs[i] = e
			clear(w.counts[i*w.width : (i+1)*w.width])
		default:
			continue
		}
		dst := w.counts[i*w.width : (i+1)*w.width]
		for k, v := range o.counts[i*o.width : (i+1)*o.width] {
			dst[k] += v
		}
	}
	return nil
}
