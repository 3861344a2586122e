package config

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// Every variable Load reads is listed with a description, and no
// description is left over for a variable that is gone.
func TestVariablesAreDescribed(t *testing.T) {
	vars := Variables()
	seen := map[string]bool{}
	for _, v := range vars {
		seen[v.Name] = true
		if v.Description == "" {
			t.Errorf("%s has no description: add it to descriptions in describe.go", v.Name)
		}
	}
	for name := range descriptions {
		if !seen[name] {
			t.Errorf("descriptions has %s, which Config does not read", name)
		}
	}
	if len(vars) < 40 {
		t.Errorf("only %d variables", len(vars))
	}
}

func TestPrintVariables(t *testing.T) {
	var b bytes.Buffer
	if err := PrintVariables(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, re := range []string{
		`(?m)^  BATCH_INTERVAL +20ms +\.\.\.or when`,
		`(?m)^  KAFKA_BROKERS +localhost:9092 +seed brokers`,
		`(?m)^  RISK_BANDS +0\.3,0\.6 +risk_segment`,
		`(?m)^  MODEL_PATH +\(required\) +model file`,
		`(?m)^  KAFKA_GROUP_INSTANCE_ID +- +static membership`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(Variables())+1 {
		t.Errorf("%d lines for %d variables", n, len(Variables()))
	}
}
