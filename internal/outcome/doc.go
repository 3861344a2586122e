// Package outcome is streamscore's outcome core: the one piece of code
// every way in goes through — `run` in both delivery modes, `backfill`,
// `score`, `/v1/predict` and OIP infer. It turns an input record into its
// outcome: decode → route → features → score, and the outcome is a
// prediction or a dead letter with its stage (decode, features, score) and
// reason. The modes differ only in their source (a group member, a topic
// range, a file, an HTTP body) and their sink (a producer, a transaction,
// a file, a response); none keeps its own copy of the error policy, so
// the same record has the same outcome everywhere (a table test runs one
// set of records through every mode).
//
// A Core is shared and safe for concurrent use; a Batch is one goroutine's
// scratch (a lane's, a request's) and allocates nothing once warm.
package outcome
