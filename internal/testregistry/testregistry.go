package testregistry

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/streamscore/streamscore/schemas"
)

// Registry is a running fake registry (closed on cleanup).
type Registry struct {
	*srfake.Registry
	// ID is the id of the transaction schema, under "transactions-value".
	ID int
	// Down, while true, makes every schema lookup by id answer 503.
	Down atomic.Bool
}

// New starts a registry holding the transaction schema.
func New(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{Registry: srfake.New()}
	t.Cleanup(r.Close)
	id, _, err := r.RegisterSchema("transactions-value", sr.Schema{Schema: schemas.TransactionSchema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	r.ID = id
	r.Intercept(func(w http.ResponseWriter, req *http.Request) bool {
		if r.Down.Load() && strings.HasPrefix(req.URL.Path, "/schemas/ids/") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	return r
}

// Transactions returns n transactions framed with the registry's id, for
// topic "transactions", with event ids prefix0..prefix{n-1}, event time and
// record timestamp ts, and amount i.
func (r *Registry) Transactions(t testing.TB, prefix string, n int, ts time.Time) (recs []*kgo.Record, ids []string) {
	t.Helper()
	enc, err := schemas.NewEventEncoder(schemas.Avro, schemas.Transaction, schemas.DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	var h sr.ConfluentHeader
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		ev := &schemas.Event{Fields: []schemas.Field{{Name: "event_id", Value: schemas.StringValue(id)},
			{Name: "customer_id", Value: schemas.StringValue("c")}, {Name: "event_time", Value: schemas.NumberValue(float64(ts.UnixMilli()))},
			{Name: "amount", Value: schemas.NumberValue(float64(i))}}}
		b, _ := h.AppendEncode(nil, r.ID, nil)
		if b, err = enc.Append(b, ev); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: "transactions", Value: b, Timestamp: ts})
		ids = append(ids, id)
	}
	return recs, ids
}
