// Package kafkaconn builds the franz-go connection options (brokers, client
// id, and later TLS and SASL) shared by every Kafka client streamscore makes.
package kafkaconn

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Options returns the connection options for the given brokers.
func Options(brokers []string, clientID string) []kgo.Opt {
	var seeds []string
	for _, b := range brokers {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	return []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID(clientID)}
}
