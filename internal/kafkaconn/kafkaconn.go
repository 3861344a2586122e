package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamscore/streamscore/internal/config"
)

// Options returns the connection options for plain brokers (tools).
func Options(brokers []string, clientID string) []kgo.Opt {
	var seeds []string
	for _, b := range brokers {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	return []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID(clientID)}
}

// ForConfig returns the connection options of the service: brokers, client
// id, and TLS and SASL from KAFKA_TLS_* and KAFKA_SASL_*. Errors name the
// variable at fault and never contain a secret.
func ForConfig(cfg config.Config, clientID string) ([]kgo.Opt, error) {
	opts := Options(cfg.Brokers, clientID)
	if cfg.TLSEnabled {
		tc, err := TLSConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if cfg.SASLMechanism != "" {
		m, err := Mechanism(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// TLSConfig builds the client TLS configuration.
func TLSConfig(cfg config.Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName, InsecureSkipVerify: cfg.TLSInsecureSkip}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE=%q: %w", cfg.TLSCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE=%q: no PEM certificate in the file", cfg.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together: set both for a client certificate, or neither")
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CERT_FILE=%q / KAFKA_TLS_KEY_FILE=%q: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Password reads the SASL password from KAFKA_SASL_PASSWORD or, when set,
// KAFKA_SASL_PASSWORD_FILE (a trailing newline is dropped).
func Password(cfg config.Config) (string, error) {
	if cfg.SASLPasswordFile == "" {
		return cfg.SASLPassword, nil
	}
	b, err := os.ReadFile(cfg.SASLPasswordFile)
	if err != nil {
		return "", fmt.Errorf("KAFKA_SASL_PASSWORD_FILE=%q: %w", cfg.SASLPasswordFile, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Mechanism builds the SASL mechanism.
func Mechanism(cfg config.Config) (sasl.Mechanism, error) {
	pass, err := Password(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.SASLMechanism {
	case "PLAIN":
		return plain.Auth{User: cfg.SASLUsername, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: cfg.SASLUsername, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: cfg.SASLUsername, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("KAFKA_SASL_MECHANISM=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", cfg.SASLMechanism)
}
