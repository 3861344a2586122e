// Package httpapi is streamscore's HTTP surface on HTTP_ADDR:
//
//	GET  /healthz                     alive
//	GET  /readyz                      model loaded, broker reachable, partitions assigned and read (503 with the reason)
//	GET  /metrics                     Prometheus
//	POST /v1/predict[?topic=T]        one event or a list, in the stream's JSON; the predictions the stream would publish
//	GET  /v2/health/live              Open Inference Protocol v2 (KServe, Triton, Seldon clients)
//	GET  /v2/health/ready
//	GET  /v2/models/{name}            metadata
//	GET  /v2/models/{name}/ready
//	POST /v2/models/{name}/infer      an FP32 or FP64 tensor [N, F] of model inputs -> "score" [N] (and "scores" [N, K])
//
// /v1/predict runs the same decoder, feature plan, model and policy as the
// stream, so it returns the scores the stream publishes for the same
// events. Request bodies and batches are bounded; every error is JSON
// {"error": "..."} naming the field at fault.
package httpapi
