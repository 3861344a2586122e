package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// model inspect --features lists the fields the scored event gives and,
// per event kind, the fields the aggregates read of the entity's earlier
// events: for the bundled fraud model, the activity fields its
// account-activity aggregates need as well as its transaction fields.
func TestModelInspectFeatures(t *testing.T) {
	r := streamscore(t, nil, "model", "inspect", "../../models/fraud.json", "--features", "../../models/fraud.features.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"features file: ../../models/fraud.features.yaml\n",
		"  event fields: amount, event_time, card_present, channel, merchant_category, country\n",
		"  aggregates:   9, over the entity's earlier events (windows up to 168h), reading\n",
		"    activity events:    activity_type, ip_country, new_device\n",
		"    transaction events: amount, country\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// a features file without aggregates has no aggregate lines
	r = streamscore(t, nil, "model", "inspect", "../../models/takeover.json", "--features", "../../models/takeover.features.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "  event fields: event_time, new_device, activity_type, ip_country\n") || strings.Contains(r.stdout, "aggregates:") {
		t.Errorf("takeover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A kind whose aggregates read no field (counts, time since) says so.
func TestModelInspectCountOnly(t *testing.T) {
	dir := t.TempDir()
	model, features := filepath.Join(dir, "m.json"), filepath.Join(dir, "f.yaml")
	os.WriteFile(model, []byte(`{"format":"streamscore-linear","link":"logistic","features":["n","amount"],"coefficients":[0.1,0.2]}`), 0o644)
	os.WriteFile(features, []byte("features:\n  - {name: n, aggregate: {fn: count, of: activity, over: 90m}}\n  - {name: amount}\n"), 0o644)
	r := streamscore(t, nil, "model", "inspect", model, "--features", features)
	for _, want := range []string{"  event fields: amount\n", "  aggregates:   1, over the entity's earlier events (windows up to 1h30m), reading\n",
		"    activity events: no field (counts and times only)\n"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("exit %d, output lacks %q:\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
}
