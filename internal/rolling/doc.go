// Package rolling provides counts over a rolling time window kept in fixed
// steps: the window is divided into Slots steps of Span/Slots each, every
// step holds a row of counters, and a sum over the window adds the rows of
// the steps that are still inside it. Memory is Slots × width counters
// whatever the rate; the price is resolution: the window at time now
// covers the steps whose start is after now − Span, so its far edge moves
// a step at a time (Span/Slots; for 60 slots, one minute of a one-hour
// window).
//
// Counts are additive: windows with the same span, slots and width (one per
// lane, say) merge by adding their sums, or with Merge.
//
// A Window is not safe for concurrent use; its owner locks.
package rolling
