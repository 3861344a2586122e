package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

func TestRunHTTPIsOpenLoop(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		if got.Load()%10 == 0 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(20 * time.Millisecond) // a slow server must not slow the schedule
	}))
	defer srv.Close()
	res, err := RunHTTP(context.Background(), HTTPOptions{URL: srv.URL, Rate: 200, Duration: time.Second, Names: schemas.DefaultFieldNames})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 200 || res.OK+res.Failed != 200 || res.Failed != 20 || got.Load() != 200 {
		t.Fatalf("result %+v, server saw %d", res, got.Load())
	}
	if res.Elapsed > 3*time.Second {
		t.Errorf("the schedule stretched to %v: closed loop?", res.Elapsed)
	}
	if res.Quantile(0.5) < 20*time.Millisecond || res.Quantile(0.5) > res.Quantile(1) {
		t.Errorf("latencies p50 %v max %v", res.Quantile(0.5), res.Quantile(1))
	}
}
