package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

type fakeEntities struct {
	err   error
	calls int
}

func (f *fakeEntities) Score(_ context.Context, topic string, recs []*outcome.Record, _ outcome.Explain) error {
	f.calls++
	for _, r := range recs {
		if r.Value != nil {
			return fmt.Errorf("record of %s handed over with its raw value", topic)
		}
	}
	return f.err
}

// TestPredictNeedsEntityState: with aggregate features /v1/predict goes
// through the stream's state, and says why when it cannot.
func TestPredictNeedsEntityState(t *testing.T) {
	sc := entitytest.Scorer(t)
	body := `{"event_id":"e1","customer_id":"c7","event_time":1795591167804,"amount":3}`
	for _, tc := range []struct {
		name     string
		entities EntityScorer
		status   int
		contains string
	}{
		{"no stream state", nil, http.StatusServiceUnavailable, "no stream state"},
		{"another member's partition", &fakeEntities{err: &MisdirectedError{Topic: "transactions", Partitions: []int32{2}, Entities: []string{"c7"}}},
			http.StatusMisdirectedRequest, `entity \"c7\" is in partition 2 of transactions`},
		{"rebuilding", &fakeEntities{err: fmt.Errorf("%w: partition 2 of transactions is being rebuilt", ErrStateNotReady)},
			http.StatusServiceUnavailable, "being rebuilt"},
		{"lane busy", &fakeEntities{err: context.DeadlineExceeded}, http.StatusServiceUnavailable, "entity state: context deadline exceeded"},
		{"other error", &fakeEntities{err: errors.New("boom")}, http.StatusServiceUnavailable, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(Options{Models: modelset.Static(map[string]*scoring.Scorer{"transactions": sc, "activity": sc}), Names: schemas.DefaultFieldNames,
				Inputs: []Input{{"transactions", schemas.Transaction}, {"activity", schemas.Activity}}, Entities: tc.entities})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/v1/predict", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.contains) {
				t.Fatalf("status %d, body %s; want %d containing %q", resp.StatusCode, b, tc.status, tc.contains)
			}
			if tc.status == http.StatusServiceUnavailable && strings.Contains(tc.name, "rebuilding") && resp.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After while rebuilding")
			}
			if f, ok := tc.entities.(*fakeEntities); ok && f.calls != 1 {
				t.Errorf("entity scorer called %d times", f.calls)
			}
		})
	}
}
