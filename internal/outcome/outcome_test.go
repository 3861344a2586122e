package outcome

import (
	"errors"
	"strings"
	"testing"

	"github.com/streamscore/streamscore/internal/entitytest"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// TestAggregateOfAKindNoInputCarries: a features file that aggregates
// activity over inputs of transactions only fails at start, naming the
// feature and what the inputs carry.
func TestAggregateOfAKindNoInputCarries(t *testing.T) {
	sc := entitytest.Scorer(t)
	dec, err := schemas.NewDecoder(schemas.JSON, schemas.Transaction, schemas.DefaultFieldNames)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(modelset.Static(map[string]*scoring.Scorer{"transactions": sc}),
		[]Input{{Topic: "transactions", Kind: schemas.Transaction, Decoder: dec}}, nil)
	if !errors.Is(err, scoring.ErrAggregate) || !strings.Contains(err.Error(), `feature "failed_logins_1h" aggregates activity events`) ||
		!strings.Contains(err.Error(), "transactions carries transaction") {
		t.Fatalf("err = %v", err)
	}
}

// TestResetKeepsReasonStorage: a reused record keeps the room of its
// reasons and contributions (a lane's next flagged prediction in it
// allocates none), emptied.
func TestResetKeepsReasonStorage(t *testing.T) {
	var r Record
	r.Reasons = append(r.Reasons, scoring.Reason{Feature: 1}, scoring.Reason{Feature: 2})
	r.Contributions = append(r.Contributions, 1, 2, 3)
	rc, cc := cap(r.Reasons), cap(r.Contributions)
	r.Reset()
	if len(r.Reasons) != 0 || len(r.Contributions) != 0 {
		t.Fatalf("after Reset: %d reasons, %d contributions, want none", len(r.Reasons), len(r.Contributions))
	}
	if cap(r.Reasons) != rc || cap(r.Contributions) != cc {
		t.Errorf("after Reset: room for %d reasons and %d contributions, want %d and %d", cap(r.Reasons), cap(r.Contributions), rc, cc)
	}
}
