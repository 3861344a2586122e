// Package window is the micro-batcher: it gathers records into batches that
// close at a maximum size or when their oldest record has waited an
// interval, whichever is first, and also on demand (partition revoke,
// shutdown).
//
// A Window is pure: it never reads a clock and starts no goroutine. Callers
// pass the current time to Add and Tick and arm their own timer from
// Deadline, which makes every edge (a record just before the deadline, an
// idle stream, a burst) testable with explicit times. One Window serves all
// assigned partitions of a process; records keep their arrival order, so a
// partition's records stay in order within and across batches.
package window
