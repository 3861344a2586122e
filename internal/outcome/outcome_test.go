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
