package pipeline

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamscore/streamscore/internal/config"
)

// TestEndError: a transaction that cannot end stops the run with an error
// that keeps its cause and says what happened: fenced by another producer
// of the id, or unconfirmed by the brokers.
func TestEndError(t *testing.T) {
	cfg := config.Config{GroupID: "g", GroupInstanceID: "i"}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{kerr.ProducerFenced, `another producer with transactional id "g-i" took over`},
		{kerr.InvalidProducerEpoch, "took over"},
		{errors.New("unable to dial: connection refused"), "end transaction of 7 records (transactional id \"g-i\"): the brokers did not confirm it"},
	} {
		err := endError(cfg, 7, tt.err)
		if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("endError(%v) = %v; want it to wrap the cause and say %q", tt.err, err, tt.want)
		}
	}
}
