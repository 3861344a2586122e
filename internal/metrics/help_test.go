package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/window"
)

// help is the Help text of a collector, as a scrape's # HELP line shows it.
func help(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 1)
	c.Describe(ch)
	return (<-ch).String()
}

// The Help of streamscore_batches_total names every trigger value the
// pipeline labels batches with.
func TestBatchesHelpNamesEveryTrigger(t *testing.T) {
	h := help(New().Batches)
	for tr := window.Trigger(0); !strings.HasPrefix(tr.String(), "Trigger("); tr++ {
		if !strings.Contains(h, tr.String()) {
			t.Errorf("the help lacks trigger %q: %s", tr, h)
		}
	}
}

// The Help of streamscore_feature_missing_total names every way an input
// is missing, empty aggregates included (an aggregate over no events other
// than count, sum and count_distinct is missing).
func TestFeatureMissingHelp(t *testing.T) {
	h := help(New().FeatureMissing)
	for _, want := range []string{"absent or null", "unseen category", "aggregate with no value", "mean, min, max, last or since_last", "without a default"} {
		if !strings.Contains(h, want) {
			t.Errorf("the help lacks %q: %s", want, h)
		}
	}
}
