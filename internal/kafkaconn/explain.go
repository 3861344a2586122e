package kafkaconn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamscore/streamscore/internal/config"
)

// Explain turns a failure to talk to the brokers at start into a message
// that says what went wrong: authentication, TLS, or reachability. It
// never includes a password.
func Explain(err error, cfg config.Config) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState), errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Errorf("Kafka authentication failed for KAFKA_SASL_USERNAME=%q with KAFKA_SASL_MECHANISM=%s: %w", cfg.SASLUsername, cfg.SASLMechanism, err)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("TLS handshake with the brokers failed: their certificate is not signed by a trusted CA (check KAFKA_TLS_CA_FILE): %w", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("TLS handshake with the brokers failed: the certificate does not match the host (check KAFKA_TLS_SERVER_NAME): %w", err)
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return fmt.Errorf("TLS handshake with the brokers failed (check KAFKA_TLS_*): %w", err)
	case cfg.SASLMechanism != "" && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		// Some brokers close the connection instead of answering a failed
		// SASL exchange.
		return fmt.Errorf("Kafka authentication failed for KAFKA_SASL_USERNAME=%q with KAFKA_SASL_MECHANISM=%s: the brokers closed the connection during authentication (check the user, password and mechanism): %w",
			cfg.SASLUsername, cfg.SASLMechanism, err)
	}
	return fmt.Errorf("%w %v: %w", ErrUnreachable, cfg.Brokers, err)
}

// ErrUnreachable is wrapped by Explain's error for brokers that did not
// answer (no TLS or authentication failure recognised): what may heal by
// itself.
var ErrUnreachable = errors.New("cannot reach the Kafka brokers")
