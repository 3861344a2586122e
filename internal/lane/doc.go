// Package lane runs the hot path of streamscore on every core. A lane owns
// one partition number p of the input topics and does everything a record
// needs in its own goroutine — decode, the micro-batch window, the outcome
// core (features, model), and handing outcomes to its sink, which encodes
// and produces them — so lanes run in parallel and never wait on each
// other, records of a partition keep their order, and nothing per record
// takes a process-wide lock.
//
// Sources push chunks (one partition's records of a poll) and never block;
// the runners of `run` push a poll's chunks together (PushAll), so that an
// event-time merge sees every partition of a fetch response at once
// (backfill pushes one by one: its partitions' ends are fixed);
// controls (Flush on revoke, Drop on loss, Barrier at the end of a
// transaction, Stop at shutdown) are queued behind the chunks they concern.
// A lane whose record waits for the schema registry holds its partitions
// (Hooks.Pause) and keeps answering controls: a revoke or a stop gives the
// waiting records up (Sink.Abandon) instead of blocking the group, as it
// gives up records an event-time merge still waits for.
//
// A lane also watches its models when Config.Watch asks (watch.go): it
// joins partition p of the labels topic to the predictions it made (its
// own quality.Store, fed once per batch or, exactly-once, at commit),
// counts each route's scored rows into the route's drift monitor (the
// batch's dense rows, no copy per row beyond the monitor's counters), and
// scores each route's challenger on the batch after the champion's
// outputs are handed over, its predictions to the challenger's own topic
// (WatchSink.Shadow) and its failures its own. Label records get no output
// and are never dead letters.
//
// The lanes of a process are generic in R, the reference a source attaches
// to each record: the offset tracker's token (at-least-once), the open
// transaction (exactly-once), or nothing (backfill).
package lane
