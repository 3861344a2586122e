package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/streamscore/streamscore/internal/outcome"
)

// EntityScorer scores /v1/predict's events against the stream's entity
// state, when the features have aggregates.
type EntityScorer interface {
	// Score gives each decoded record of recs (all of topic; those that
	// are dead letters already are left alone) its outcome, its
	// aggregates read from the state of the lane that owns its entity's
	// partition; the records do not enter the state. It returns a
	// *MisdirectedError, scoring nothing, when an entity's partition is
	// owned by another instance; an error wrapping ErrStateNotReady while
	// a partition's state is being rebuilt; or ctx's error. After an error
	// recs must not be reused. The records get the reason codes ex asks
	// for. Safe for concurrent use.
	Score(ctx context.Context, topic string, recs []*outcome.Record, ex outcome.Explain) error
}

// ErrStateNotReady: the entity state a request needs is being rebuilt.
var ErrStateNotReady = errors.New("entity state not ready")

// MisdirectedError names the partitions of a request's entities that this
// instance does not own: their state lives on another member of the
// group. /v1/predict answers 421 Misdirected Request.
type MisdirectedError struct {
	Topic      string
	Partitions []int32
	Entities   []string // one entity of each partition, in the same order
}

func (e *MisdirectedError) Error() string {
	parts := make([]string, len(e.Partitions))
	for i, p := range e.Partitions {
		parts[i] = fmt.Sprintf("entity %q is in partition %d", e.Entities[i], p)
	}
	return fmt.Sprintf("%s of %s, which this instance does not own; send the request to the instance that consumes it", strings.Join(parts, ", "), e.Topic)
}

// entityTimeout bounds how long a request waits for a lane between its
// batches.
const entityTimeout = 5 * time.Second

// scoreWithState scores recs through the stream's entity state and writes
// the error response when it cannot; it reports whether recs were scored.
func (s *server) scoreWithState(w http.ResponseWriter, r *http.Request, topic string, recs []*outcome.Record, ex outcome.Explain) bool {
	if s.o.Entities == nil {
		writeError(w, http.StatusServiceUnavailable, "the features have entity aggregates, and this server has no stream state to read them from")
		return false
	}
	for _, rec := range recs {
		rec.Value = nil // decoded here, as JSON: the lanes' decoders may be of another encoding
	}
	ctx, cancel := context.WithTimeout(r.Context(), entityTimeout)
	defer cancel()
	err := s.o.Entities.Score(ctx, topic, recs, ex)
	var mis *MisdirectedError
	switch {
	case err == nil:
		return true
	case errors.As(err, &mis):
		writeJSON(w, http.StatusMisdirectedRequest, map[string]any{"error": err.Error(), "topic": mis.Topic, "partitions": mis.Partitions})
	case errors.Is(err, ErrStateNotReady):
		w.Header().Set("Retry-After", strconv.Itoa(1))
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusServiceUnavailable, "entity state: "+err.Error())
	}
	return false
}
