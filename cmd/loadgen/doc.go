// Command loadgen produces synthetic transaction and activity events to
// Kafka at a target rate, or writes a labelled training file computed by
// the serving feature code.
//
//	loadgen --brokers localhost:9092 --rate 5000 --duration 1m --encoding json
//	loadgen --training-file train.csv --count 200000 [--features models/fraud.features.yaml] [--log-file log.csv]
//	loadgen http --url http://127.0.0.1:8080/v1/predict --rate 2000 --duration 20s
package main
