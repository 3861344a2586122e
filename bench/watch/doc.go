// Command watch measures a running streamscore from its /metrics: it
// polls every 10 ms (one kept-alive connection) and prints records/s from
// the first record consumed to the moment predictions plus dead letters
// reach --count, and the process's peak RSS when --pid is given.
//
//	watch --url http://127.0.0.1:8080/metrics --count 200000 --pid 1234
package main
