// Package kafkaconn builds the franz-go connection options shared by every
// Kafka client streamscore makes: brokers, client id, TLS and SASL.
package kafkaconn
