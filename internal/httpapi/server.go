package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamscore/streamscore/internal/metrics"
	"github.com/streamscore/streamscore/internal/modelset"
	"github.com/streamscore/streamscore/internal/outcome"
	"github.com/streamscore/streamscore/schemas"
)

// Input is an input topic and the kind of its events.
type Input struct {
	Topic string
	Type  schemas.EventType
}

// Options configure the server.
type Options struct {
	Models       *modelset.Set
	Inputs       []Input // the first is /v1/predict's default topic
	Names        schemas.FieldNames
	Ready        func() (bool, string)
	Metrics      *metrics.Metrics
	MaxBodyBytes int64 // default 1 MiB
	MaxBatch     int   // events or rows per request; default 1000
	Pprof        bool  // serve Go's profiles under /debug/pprof/ (HTTP_PPROF)
	// Features adds to /v1/predict's predictions the model inputs as the
	// model saw them (PREDICTION_FEATURES), as the stream's carry them.
	Features bool
	// Explain is the stream's reason codes (REASONS_TOP_K, REASONS_FOR),
	// which /v1/predict's predictions get too; ?explain=true adds every
	// contribution.
	Explain outcome.Explain
	// Entities reads /v1/predict's aggregates from the stream's entity
	// state (nil: a request that needs them gets 503).
	Entities EntityScorer
	Logger   *slog.Logger
}

type server struct {
	o       Options
	core    *outcome.Core // JSON decoders of every input topic, the models in service
	batches sync.Pool     // *outcome.Batch
}

// New returns the HTTP handler.
func New(o Options) (http.Handler, error) {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Ready == nil {
		o.Ready = func() (bool, string) { return true, "ok" }
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if len(o.Inputs) == 0 {
		return nil, errors.New("httpapi: no input topics")
	}
	var inputs []outcome.Input
	for _, in := range o.Inputs {
		d, err := schemas.NewDecoder(schemas.JSON, in.Type, o.Names)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, outcome.Input{Topic: in.Topic, Kind: in.Type, Decoder: d})
	}
	core, err := outcome.New(o.Models, inputs, nil)
	if err != nil {
		return nil, err
	}
	s := &server{o: o, core: core}
	s.batches.New = func() any {
		b := core.NewBatch()
		b.KeepFeatures(o.Features)
		return b
	}
	mux := http.NewServeMux()
	handle := func(pattern, name string, h http.HandlerFunc) { mux.Handle(pattern, s.instrument(name, h)) }
	handle("GET /healthz", "healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"alive": true})
	})
	handle("GET /readyz", "readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{}))
	handle("POST /v1/predict", "predict", s.predict)
	handle("GET /v2/health/live", "oip_live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"live": true})
	})
	handle("GET /v2/health/ready", "oip_ready", func(w http.ResponseWriter, _ *http.Request) {
		ok, _ := s.o.Ready()
		writeJSON(w, code(ok), map[string]any{"ready": ok})
	})
	handle("GET /v2/models/{name}", "oip_metadata", s.oipMetadata)
	handle("GET /v2/models/{name}/ready", "oip_model_ready", s.oipModelReady)
	handle("POST /v2/models/{name}/infer", "oip_infer", s.oipInfer)
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return mux, nil
}

func code(ok bool) int {
	if ok {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, reason := s.o.Ready()
	writeJSON(w, code(ok), map[string]any{"ready": ok, "reason": reason})
}

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func (s *server) instrument(name string, h http.HandlerFunc) http.Handler {
	lat := s.o.Metrics.HTTPSeconds.WithLabelValues(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		lat.Observe(time.Since(start).Seconds())
		s.o.Metrics.HTTPRequests.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// readBody reads a bounded request body; a body over the limit is a 413.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than the limit of %d bytes (HTTP_MAX_BODY_BYTES)", s.o.MaxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, "body: "+err.Error())
		}
		return nil, false
	}
	return b, true
}

// model finds a route by its model's name.
func (s *server) model(name string) *modelset.Route {
	for _, r := range s.o.Models.Routes() {
		if r.Scorer().Info().Name == name {
			return r
		}
	}
	return nil
}

// itemError is one failed event of a /v1/predict list.
type itemError struct {
	Error string `json:"error"`
	Stage string `json:"stage"`
}

// predict scores events like the stream does: the same outcome core
// (decoder, features, model, policy), so an event gets the same
// prediction, or fails at the same stage with the same reason.
func (s *server) predict(w http.ResponseWriter, r *http.Request) {
	topic := r.URL.Query().Get("topic")
	if topic == "" {
		topic = s.o.Inputs[0].Topic
	}
	if _, ok := s.core.Input(topic); !ok || s.o.Models.For(topic) == nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("topic: %q is not an input topic", topic))
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var raws []json.RawMessage
	single := false
	switch firstByte(body) {
	case '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			writeError(w, http.StatusBadRequest, "body: not a JSON array of events: "+err.Error())
			return
		}
	case '{':
		raws, single = []json.RawMessage{body}, true
	default:
		writeError(w, http.StatusBadRequest, "body: want a JSON event object or a list of them")
		return
	}
	if len(raws) == 0 {
		writeError(w, http.StatusBadRequest, "body: the list of events is empty")
		return
	}
	if len(raws) > s.o.MaxBatch {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: %d events exceed the limit of %d (HTTP_MAX_BATCH)", len(raws), s.o.MaxBatch))
		return
	}
	recs := make([]outcome.Record, len(raws))
	ptrs := make([]*outcome.Record, len(raws))
	for i, raw := range raws {
		recs[i] = outcome.Record{Topic: topic, Value: raw}
		ptrs[i] = &recs[i]
		_ = s.core.Decode(ptrs[i]) // JSON needs no registry: nothing waits
	}
	ex := s.o.Explain
	if r.URL.Query().Get("explain") == "true" {
		if _, err := s.o.Models.For(topic).Scorer().Explainer(); err != nil {
			writeError(w, http.StatusBadRequest, "explain: "+err.Error())
			return
		}
		ex.For, ex.All = outcome.ExplainAll, true
	}
	if len(s.core.Spec().Aggregates()) > 0 {
		if !s.scoreWithState(w, r, topic, ptrs, ex) {
			return
		}
	} else {
		b := s.batches.Get().(*outcome.Batch)
		defer s.batches.Put(b)
		b.SetExplain(ex)
		b.Score(ptrs)
	}
	now := schemas.Millis(time.Now())
	out := make([]any, len(raws))
	for i, rec := range ptrs {
		if rec.Dead() {
			if single {
				writeError(w, http.StatusBadRequest, reason(rec))
				return
			}
			out[i] = itemError{Error: rec.Err.Error(), Stage: rec.Stage}
			continue
		}
		pred := rec.Prediction(schemas.Source{Topic: topic, Partition: -1, Offset: -1}, now)
		if s.o.Features {
			pred.Features = &schemas.FeatureVector{Names: rec.Scorer.Plan().Names(), Values: rec.Features}
		}
		if len(rec.Reasons) > 0 {
			pred.Reasons = rec.AppendReasons(nil)
		}
		if ex.All {
			out[i] = explained{Prediction: pred, Contributions: contributions(rec)}
			continue
		}
		out[i] = pred
	}
	writeJSON(w, http.StatusOK, map[string]any{"predictions": out})
}

// reason is a failed event's error for a single-event request: the stage
// and the reason, as the stream's dead letter names them in its
// x-streamscore-stage and x-streamscore-error headers.
func reason(rec *outcome.Record) string {
	return rec.Stage + ": " + rec.Err.Error()
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}
