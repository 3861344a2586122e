// Package entity is the per-lane entity state: the recent events of every
// entity, by kind, holding only the fields the aggregates read, and the
// windowed aggregates of DESIGN.md's "Entity features" computed from them
// exactly.
//
// A [Spec] is the set of aggregates a lane serves (the union of its routes'
// plans, deduplicated by [scoring.Aggregate.Key]). A [State] holds one
// lane's history for a Spec. For each record, in the order the lane
// processes them, the lane calls [State.Aggregate] (the values go into
// Event.Aggs through the plan's aggregate indices, mapped with
// [Spec.Index]) and then [State.Observe]; it calls [State.Expire] as its
// event time advances, [State.Forget] when an exactly-once transaction
// aborts, and [State.Reset] on revoke. A rebuild replays history from time
// R into an empty state after [State.DropBefore](R).
//
// # Semantics
//
// For an event e of entity k at time t (milliseconds), aggregate {fn, of,
// field, over, where} is over the stored events x of k, of kind of, that
// match every where condition ([scoring.Condition.Matches]: equal kind and
// value, any of the listed values; an absent or null field matches
// nothing), with t − over ≤ time(x) < t. Events at t itself are not
// included, so ties never depend on order and an event never sees itself.
//
//   - count: the matching events (0 when none).
//   - sum, mean, min, max: over the matching events whose field is a number
//     or a boolean (true = 1, false = 0, as a direct feature reads it);
//     others are skipped. sum is 0 when none, the others missing (Null).
//     sum and mean add in float64 in canonical order — time, then Pos
//     (stream, offset) — starting from 0, so the value is a function of the
//     window's events alone, not of the order they were observed in: a
//     replay gives it bit for bit. min and max follow math.Min and
//     math.Max (-0 < +0).
//   - count_distinct: the distinct values of the field among the matching
//     events that have one (a string, number or boolean; values of
//     different kinds are distinct: "1", 1 and true are three; -0 and 0 are
//     one). 0 when none.
//   - last: the field of the latest matching event (in canonical order),
//     as DESIGN.md defines it: missing when that event's field is absent
//     or null (not an earlier event's value — SQL's LAST_VALUE RESPECT
//     NULLS, not pandas' GroupBy.last), and missing when no event matches.
//     The value keeps its kind (a string stays a string for the plan's
//     category or one_hot).
//   - since_last: (t − time of the latest matching event) / 1000, in
//     seconds; missing when none. Always > 0.
//
// A stored value that no function can use — a non-finite number, or a
// value that is not a scalar (an object) — is stored as absent. A string
// in a numeric function's field is skipped. [Spec.Check] reports such
// values, so the pipeline may dead-letter the record instead (a record
// whose direct feature is of the wrong type is refused the same way).
//
// Counts, distinct counts, min, max, last and since_last are exact; the
// brute-force reference in the tests evaluates the definition directly on
// random logs and agrees with every value of every event, floats bit for
// bit, and two observation orders of one log give identical states.
//
// # Late records, and observation
//
// Observe reports a record late when an event of its entity with a later
// time was already observed (any kind: a kind no aggregate reads stores no
// fields, but the entity's newest time is kept, since an event of that
// kind may have been scored with aggregates of the other). A late record
// enters the state in its place in time order (inserted in place) and is
// counted (Stats.Late). Observing a record already stored (same kind, time
// and Pos) changes nothing. Late detection is exact while the entity's
// record is held; a record that goes — expired, or dropped by the bound (a
// tombstone dropped, an entity known only from a kind no aggregate reads
// evicted), or whose newest unstored observation is forgotten — takes its
// newest time along, so a late record may then go unreported. The other
// way round, only after a Forget: an aborted record that the bound or
// Expire had already dropped still counts as seen, so its entity's earlier
// records fetched again may be reported late.
//
// # Expiry and slack
//
// Expire(w) drops the events older than w − Longest − Slack, where w is
// the lane's event-time watermark. A record later than the slack may find
// a window reaching before that cut: such a window is not computed over
// what is left but answered missing (Null), and Aggregate reports it
// (evicted = true, counted in Stats.MissingExpired). The state knows, per
// entity, which span of its history it dropped, so this happens only when
// the window really reaches into dropped events (an entity first seen
// after a cut counts everything before the cut as dropped). DropBefore(R)
// marks the history before R the same way, for a rebuild that starts at R.
//
// # The bound: ENTITY_STATE_MAX_BYTES
//
// With Options.MaxBytes set, an Observe that takes the accounted bytes
// over the bound evicts whole entities, least recently observed first,
// until the state is within it again (the entity just observed goes last,
// and goes too if it alone is over the bound). An evicted entity's events
// are dropped and a tombstone is kept: its record, with the time span of
// the dropped events. Later events of that entity whose window reaches into
// the span get their aggregates missing (Null), never a value computed over
// part of the window; the call reports evicted = true and is counted
// (Stats.MissingEvicted); values whose window does not reach the span are
// exact. Tombstones count in the bytes and expire with the history they
// stand for. When nothing but tombstones is left to evict, the oldest
// tombstones are dropped and their spans counted as dropped for every
// entity first seen after that (conservative: such entities get the
// windows reaching into those spans missing). The bound holds whenever
// Observe returns (unless it is below the few bytes of the where
// conditions' strings, which stay); a value is never wrong, only missing
// and counted.
//
// # Storage and the byte accounting
//
// Each entity has a record and, per kind the spec reads, a series of its
// events sorted by (time, stream, offset), stored by column in one []uint64
// (so a scan reads only the columns it needs and the binary search for a
// window runs over contiguous times). A stored event of a kind with F kept
// fields takes 8 × (3 + F) bytes (time, offset, stream and the fields'
// value kinds, then one word per field; one more word per 32 fields past
// 16). String values are interned once per state, reference-counted. The
// accounted bytes (Stats.Bytes) are:
//
//   - per entity record: 312 bytes (the record with its id up to 24 bytes
//     and its series headers for up to 2 kinds, its map entry and heap
//     slot), plus a longer id's length;
//   - per series: 8 bytes × its array's capacity (an array grows to twice
//     its events when full and shrinks when under a quarter full, so past
//     64 words its capacity is 1 to 4 times what the events take; 1.3× in
//     the benchmarks);
//   - per distinct string: its length plus 64 bytes;
//   - the where conditions' strings, pinned.
//
// Measured against the heap (TestByteAccounting, BenchmarkBytes; DESIGN.md's
// example aggregates, 3 transaction fields kept, so 48 bytes per event
// before overheads): about 361 bytes per event for entities holding 1
// event (the heap: 350), 109 for 10 (109) and 66 for 100 (66); the test
// holds the accounting within 10% of the heap.
//
// # Complexity
//
// With n the events an entity holds of a kind and w those in a window:
// Observe is amortised O(1) for a record in time order (an append; a map
// lookup for the entity and for each string value), O(log n + n) for a
// late one (found by binary search, inserted in place), plus O(log E) when
// the entity's oldest event changes (E entities: the expiry heap); it
// allocates only for a new entity, a new string or a full array. Aggregate is, per aggregate, O(log n) to find
// the window by binary search, plus O(w) for sum, mean, min, max,
// count_distinct and count with where (sums must add every value in
// order); count without where is O(log n); last and since_last scan back
// from the window's end to the first match. It allocates nothing once
// warm. Expire is O(log E + log n) per entity whose oldest event expires,
// amortised O(1) per dropped event. Forget visits the entities observed
// since the first forgotten record (found from a mark kept every 256
// observations of a stream): O(their events). An entity with a very large
// window (a bot with many thousands of events per window) costs O(w) per
// event of its own; BenchmarkAggregateHeavy gives the cost per event in the
// window.
//
// # Concurrency
//
// A State is used by its lane alone, except that Aggregate and Stats only
// read (their counters are atomic, their scratch pooled): any number of
// goroutines may call them at once while nothing calls Observe, Expire,
// DropBefore, Forget or Reset, for instance under the read side of a
// sync.RWMutex whose write side the lane holds while it writes.
package entity
