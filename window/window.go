package window

import (
	"fmt"
	"time"
)

// Trigger is why a batch closed.
type Trigger int

// Triggers.
const (
	Size        Trigger = iota // the batch reached its maximum size
	Interval                   // its oldest record waited the interval
	Revoke                     // partitions were revoked
	Shutdown                   // the process is stopping
	Transaction                // an exactly-once transaction is ending
)

func (t Trigger) String() string {
	switch t {
	case Size:
		return "size"
	case Interval:
		return "interval"
	case Revoke:
		return "revoke"
	case Shutdown:
		return "shutdown"
	case Transaction:
		return "transaction"
	}
	return fmt.Sprintf("Trigger(%d)", int(t))
}

// Batch is a closed batch. Items are in arrival order; the receiver owns
// the slice and may hand it back with Recycle once done with it.
type Batch[T any] struct {
	Items   []T
	Trigger Trigger
	Opened  time.Time // arrival time of the first item
}

// Window gathers items into batches. It is not safe for concurrent use:
// one goroutine (or one lock) owns it.
type Window[T any] struct {
	maxSize  int
	interval time.Duration
	emit     func(Batch[T])
	items    []T
	opened   time.Time
	spare    [][]T
}

// New returns a window that calls emit, synchronously from Add, Tick or
// Close, with every batch it closes. maxSize must be positive and interval
// non-negative (zero closes every batch at the next Tick).
func New[T any](maxSize int, interval time.Duration, emit func(Batch[T])) (*Window[T], error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("window: max size must be positive, got %d", maxSize)
	}
	if interval < 0 {
		return nil, fmt.Errorf("window: interval must not be negative, got %v", interval)
	}
	return &Window[T]{maxSize: maxSize, interval: interval, emit: emit}, nil
}

// Add appends an item that arrived at now. If the open batch's deadline has
// already passed at now, that batch is closed first (Interval) and the item
// opens the next one. A batch that reaches the maximum size closes (Size).
func (w *Window[T]) Add(item T, now time.Time) {
	w.Tick(now)
	if len(w.items) == 0 {
		w.opened = now
		if w.items == nil {
			w.items = w.fresh()
		}
	}
	w.items = append(w.items, item)
	if len(w.items) >= w.maxSize {
		w.close(Size)
	}
}

// Deadline is when the open batch must close; ok is false when no batch is
// open.
func (w *Window[T]) Deadline() (deadline time.Time, ok bool) {
	if len(w.items) == 0 {
		return time.Time{}, false
	}
	return w.opened.Add(w.interval), true
}

// Tick closes the open batch (Interval) if its deadline is at or before now.
func (w *Window[T]) Tick(now time.Time) {
	if d, ok := w.Deadline(); ok && !now.Before(d) {
		w.close(Interval)
	}
}

// Close closes the open batch, if any, with the given trigger (Revoke,
// Shutdown or Transaction).
func (w *Window[T]) Close(trigger Trigger) {
	if len(w.items) > 0 {
		w.close(trigger)
	}
}

// Len is the number of items in the open batch.
func (w *Window[T]) Len() int { return len(w.items) }

// Recycle hands a batch's slice back for reuse. The caller must not touch it
// afterwards.
func (w *Window[T]) Recycle(items []T) {
	if cap(items) >= w.maxSize && len(w.spare) < 4 {
		clear(items)
		w.spare = append(w.spare, items[:0])
	}
}

func (w *Window[T]) fresh() []T {
	if n := len(w.spare); n > 0 {
		s := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return s
	}
	return make([]T, 0, w.maxSize)
}

func (w *Window[T]) close(trigger Trigger) {
	b := Batch[T]{Items: w.items, Trigger: trigger, Opened: w.opened}
	w.items = nil
	w.emit(b)
}
