package scoring

import (
	"strings"
	"testing"
)

// A features file with a key the scorer does not read is refused, naming
// the key and its line: scoring it as if the key were absent would be a
// silent wrong answer (a misspelt aggregate scored as a missing field).
func TestParseFeaturesRefusesUnknownKeys(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"features:\n  - amount\n  - name: tx_count_1h\n    agregate: {fn: count, of: transaction, over: 1h}\n",
			`line 4: feature "tx_count_1h": unknown key "agregate" (want name, from, transform, value, default, categories or aggregate)`},
		{"features:\n  - name: n\n    aggregate: {fn: count, of: transaction, over: 1h, whree: {activity_type: login}}\n",
			`line 3: feature "n": aggregate: unknown key "whree" (want fn, of, field, over or where)`},
		{"features:\n  - {name: n, defualt: 0}\n", `line 2: feature "n": unknown key "defualt"`},
		{"features:\n  - {from: x, transfrom: log1p}\n", `line 2: feature: unknown key "transfrom"`},
		{"featurs:\n  - amount\n", `line 1: features file: unknown key "featurs" (want features)`},
		{"features: [amount]\n---\nfeatures: [hour]\n", "line 2: a second YAML document"},
	}
	for _, tt := range tests {
		specs, err := ParseFeatures([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: specs %+v, err = %v, want %q", tt.yaml, specs, err, tt.want)
		}
	}
	// every known key is still read
	specs, err := ParseFeatures([]byte("features:\n  - a\n  - {name: b, from: c, transform: one_hot, value: v, default: 1}\n  - {name: d, transform: category, categories: [x, y]}\n"))
	if err != nil || len(specs) != 3 || specs[1].From != "c" || specs[1].Value != "v" || *specs[1].Default != 1 || len(specs[2].Categories) != 2 {
		t.Fatalf("specs %+v, %v", specs, err)
	}
}
