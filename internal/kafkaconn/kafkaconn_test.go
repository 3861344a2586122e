package kafkaconn

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamscore/streamscore/internal/config"
)

func load(t *testing.T, env map[string]string) (config.Config, error) {
	t.Helper()
	env["MODEL_PATH"] = "m.json"
	return config.Load(env)
}

func TestPasswordFileAndValidation(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("from-a-file\n"), 0o600)
	cfg, err := load(t, map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD_FILE": pw})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Password(cfg); err != nil || p != "from-a-file" {
		t.Errorf("password %q, %v", p, err)
	}
	if _, err := ForConfig(cfg, "x"); err != nil {
		t.Errorf("ForConfig: %v", err)
	}
	bad := []map[string]string{
		{"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
		{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_PASSWORD": "p"},
		{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"},
		{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p", "KAFKA_SASL_PASSWORD_FILE": pw},
		{"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "hunter2"},
		{"KAFKA_TLS_CA_FILE": "ca.pem"},
		{"KAFKA_TLS_INSECURE_SKIP_VERIFY": "true"},
	}
	for _, env := range bad {
		_, err := load(t, env)
		if err == nil {
			t.Errorf("%v accepted", env)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "from-a-file") {
			t.Errorf("a secret in the error: %v", err)
		}
	}
	cfg, _ = load(t, map[string]string{"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": filepath.Join(dir, "missing.pem")})
	if _, err := ForConfig(cfg, "x"); err == nil || !strings.Contains(err.Error(), "KAFKA_TLS_CA_FILE") {
		t.Errorf("missing CA file: %v", err)
	}
	cfg, _ = load(t, map[string]string{"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": pw})
	if _, err := ForConfig(cfg, "x"); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("not a PEM file: %v", err)
	}
}

func TestExplain(t *testing.T) {
	cfg, _ := load(t, map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "hunter2"})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{kerr.SaslAuthenticationFailed, "authentication failed"},
		{io.EOF, "authentication failed"},
		{errors.New("dial tcp: connection refused"), "cannot reach"},
		{errors.New("tls: handshake failure"), "TLS handshake"},
	} {
		got := Explain(tc.err, cfg).Error()
		if !strings.Contains(got, tc.want) || strings.Contains(got, "hunter2") {
			t.Errorf("Explain(%v) = %s", tc.err, got)
		}
	}
}
