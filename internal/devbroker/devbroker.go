package devbroker

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
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
	// Logf, when set, reports what Start repaired in DataDir and the
	// session watchdog's failures.
	Logf func(format string, args ...any)
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
// The cluster runs a session watchdog for consumer groups (see
// sessionWatch); Close stops it with the cluster.
func Start(o Options) (*Cluster, []string, error) {
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
		if err := repairDataDir(o); err != nil {
			return nil, nil, err
		}
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
	var user, pass string
	for u, p := range o.Users { // any one user can ask
		user, pass = u, p
		if err := advertiseSASLHandshakeV0(c, o.TLS != nil, u, p); err != nil {
			c.Close()
			return nil, nil, err
		}
		break
	}
	w := watchSessions(c, o.TLS != nil, user, pass, time.Second, o.Logf)
	return &Cluster{Cluster: c, watch: w}, c.ListenAddrs(), nil
}

// advertiseSASLHandshakeV0 makes kfake's ApiVersions answer list
// SaslHandshake from version 0. kfake serves SaslHandshake v1 only, and
// librdkafka (kcat, confluent-kafka) refuses SASL unless v0 is in the
// advertised range, although it then speaks v1. The answer is kfake's own
// (asked once at start), with that one minimum widened.
func advertiseSASLHandshakeV0(c *kfake.Cluster, tlsOn bool, user, pass string) error {
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism())}
	if tlsOn {
		// our own broker, started a moment ago in this process
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("ask the broker for its API versions: %w", err)
	}
	keys := append([]kmsg.ApiVersionsResponseApiKey(nil), base.ApiKeys...)
	for i := range keys {
		if keys[i].ApiKey == int16(kmsg.SASLHandshake) {
			keys[i].MinVersion = 0
		}
	}
	c.ControlKey(int16(kmsg.ApiVersions), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if req.GetVersion() > base.GetVersion() {
			return nil, nil, false // kfake answers versions it alone knows
		}
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = keys
		return resp, nil, true
	})
	return nil
}
