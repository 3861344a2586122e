// Package devbroker starts franz-go's kfake cluster as a local,
// Kafka-compatible development broker on fixed loopback ports with seeded
// topics (cmd/devkafka and the demo).
package devbroker

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Topic is a topic to create at start.
type Topic struct {
	Name       string
	Partitions int32
}

// DefaultTopics are the topics streamscore uses by default.
var DefaultTopics = []Topic{{"transactions", 6}, {"activity", 6}, {"predictions", 6}, {"predictions-dlq", 1}}

// ParseTopics reads "name:partitions,..." (partitions default 1).
func ParseTopics(s string) ([]Topic, error) {
	var out []Topic
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, n, has := strings.Cut(part, ":")
		t := Topic{Name: name, Partitions: 1}
		if has {
			p, err := strconv.Atoi(n)
			if err != nil || p < 1 || p > 10000 {
				return nil, fmt.Errorf("topic %q: partitions must be 1 to 10000", part)
			}
			t.Partitions = int32(p)
		}
		if name == "" {
			return nil, fmt.Errorf("topic %q has no name", part)
		}
		out = append(out, t)
	}
	return out, nil
}

// Options configure Start.
type Options struct {
	Port    int // first port; brokers listen on Port … Port+Brokers-1 (0: free ports)
	Brokers int
	Topics  []Topic
	DataDir string      // persist state there when set
	TLS     *tls.Config // serve TLS when set
	// Users get SASL credentials for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512;
	// setting any enables (and requires) SASL.
	Users map[string]string
}

// ParseUser reads "user:password" (the password may contain ':').
func ParseUser(s string) (user, pass string, err error) {
	user, pass, ok := strings.Cut(s, ":")
	if !ok || user == "" || pass == "" {
		return "", "", fmt.Errorf("want user:password, got %d characters without both parts", len(s))
	}
	return user, pass, nil
}

// Start starts the cluster on 127.0.0.1 and returns it with its addresses.
func Start(o Options) (*kfake.Cluster, []string, error) {
	if o.Brokers < 1 {
		o.Brokers = 1
	}
	if o.Port < 0 || o.Port+o.Brokers-1 > 65535 {
		return nil, nil, fmt.Errorf("port %d with %d brokers is out of range", o.Port, o.Brokers)
	}
	ports := make([]int, o.Brokers)
	for i := range ports {
		if o.Port > 0 {
			ports[i] = o.Port + i
		}
	}
	opts := []kfake.Opt{kfake.NumBrokers(o.Brokers), kfake.Ports(ports...), kfake.ClusterID("streamscore-dev")}
	for _, t := range o.Topics {
		opts = append(opts, kfake.SeedTopics(t.Partitions, t.Name))
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.TLS != nil {
		opts = append(opts, kfake.TLS(o.TLS))
	}
	if len(o.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for u, p := range o.Users {
			for _, m := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
				opts = append(opts, kfake.Superuser(m, u, p))
			}
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("start broker on 127.0.0.1:%d: %w", o.Port, err)
	}
	return c, c.ListenAddrs(), nil
}
