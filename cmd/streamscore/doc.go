// Command streamscore scores Kafka event streams with a trained model.
//
//	streamscore run            the service, configured by environment variables
//	streamscore score          batch scoring of a CSV or JSON Lines file
//	streamscore backfill       replay a time range of the input topics
//	streamscore baseline       training histograms of a model's inputs and score, for drift
//	streamscore model inspect  describe a model file
//	streamscore demo           embedded broker + synthetic events + bundled model
//	streamscore version        print the version
package main
