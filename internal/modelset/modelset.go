package modelset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/scoring"
	"github.com/streamscore/streamscore/scoring/load"
)

// RouteSpec is one entry of a MODELS_FILE.
type RouteSpec struct {
	Topics      []string  `yaml:"topics"`
	Path        string    `yaml:"path"`
	Features    string    `yaml:"features"`
	Format      string    `yaml:"format"`
	Name        string    `yaml:"name"`
	Threshold   *float64  `yaml:"threshold"`
	RiskBands   []float64 `yaml:"risk_bands"`
	OutputTopic string    `yaml:"output_topic"`
	// Baseline is the model's drift baseline (`streamscore baseline`):
	// with it, per-input and score PSI are metrics.
	Baseline string `yaml:"baseline"`
	// Shadow is a challenger scored on the same records (see ShadowSpec).
	Shadow *ShadowSpec `yaml:"shadow"`
}

// ShadowSpec is a route's challenger: a second model scored on every
// record the champion (the route's model) predicts, with its own features
// file, whose predictions go to OutputTopic (the same schema, model_name
// its own), never to the champion's topic. It uses the route's threshold
// and risk bands. A challenger that fails to load or to score never
// affects the champion: the route serves without it, and a later reload
// puts it in service.
type ShadowSpec struct {
	Path        string `yaml:"path"`
	Features    string `yaml:"features"`
	Format      string `yaml:"format"`
	Name        string `yaml:"name"`
	OutputTopic string `yaml:"output_topic"`
}

// modelName is the model_name a spec's model gets: Name, or the file name
// without extension.
func modelName(name, path string) string {
	if name != "" {
		return name
	}
	return scoring.NameFromPath(path)
}

// File is the MODELS_FILE document.
type File struct {
	Models []RouteSpec `yaml:"models"`
}

// ParseFile reads a MODELS_FILE; relative paths in it are relative to the
// file's directory. A key it does not know is an error naming the key and
// its line (never ignored), and so is a second YAML document.
func ParseFile(path string) ([]RouteSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := decodeFile(b)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(f.Models) == 0 {
		return nil, errors.New("lists no models (want models: [{topics: [...], path: ...}])")
	}
	dir := filepath.Dir(path)
	for i := range f.Models {
		r := &f.Models[i]
		if r.Path == "" || len(r.Topics) == 0 {
			return nil, fmt.Errorf("model %d: topics and path are required", i)
		}
		if !filepath.IsAbs(r.Path) {
			r.Path = filepath.Join(dir, r.Path)
		}
		if r.Features != "" && !filepath.IsAbs(r.Features) {
			r.Features = filepath.Join(dir, r.Features)
		}
		if r.Baseline != "" && !filepath.IsAbs(r.Baseline) {
			r.Baseline = filepath.Join(dir, r.Baseline)
		}
		if sh := r.Shadow; sh != nil {
			if sh.Path == "" || sh.OutputTopic == "" {
				return nil, fmt.Errorf("model %d: shadow: path and output_topic are required", i)
			}
			if !filepath.IsAbs(sh.Path) {
				sh.Path = filepath.Join(dir, sh.Path)
			}
			if sh.Features != "" && !filepath.IsAbs(sh.Features) {
				sh.Features = filepath.Join(dir, sh.Features)
			}
		}
	}
	return f.Models, nil
}

// Route is one model in service and the topics it scores.
type Route struct {
	Spec    RouteSpec
	Policy  scoring.Policy
	current *scoring.Current
	mu      sync.Mutex // serialises reloads of this route
	stamp   string
	// the challenger (Spec.Shadow): nil in shadow until it loads
	shadow      *scoring.Current
	shadowStamp string
	shadowErr   error
}

// Scorer is the scorer in service; read it once per batch.
func (r *Route) Scorer() *scoring.Scorer { return r.current.Load() }

// Shadow is the challenger in service, or nil: the route has no shadow,
// or its files have not loaded (ShadowErr). Read it once per batch.
func (r *Route) Shadow() *scoring.Scorer {
	if r.shadow == nil {
		return nil
	}
	return r.shadow.Load()
}

// ShadowErr is why the challenger failed to load when the set was opened
// (nil if it loaded or there is none); reloads report theirs in Result.
func (r *Route) ShadowErr() error { return r.shadowErr }

// ShadowName is the model_name of the route's challenger ("" without one),
// known even while its files fail to load.
func (r *Route) ShadowName() string {
	if r.Spec.Shadow == nil {
		return ""
	}
	return modelName(r.Spec.Shadow.Name, r.Spec.Shadow.Path)
}

// ShadowTopic is the challenger's output topic ("" without one).
func (r *Route) ShadowTopic() string {
	if r.Spec.Shadow == nil {
		return ""
	}
	return r.Spec.Shadow.OutputTopic
}

// OutputTopic is the route's own output topic, or "" for the default.
func (r *Route) OutputTopic() string { return r.Spec.OutputTopic }

// Set routes topics to models.
type Set struct {
	routes  []*Route
	byTopic map[string]*Route
	accept  atomic.Pointer[func(*scoring.Scorer) error]
}

// SetAccept makes every reload ask fn whether a freshly loaded scorer may
// go into service; an error keeps the old one serving and is the reload's
// error (the entity state refuses a features file with aggregates it does
// not keep).
func (s *Set) SetAccept(fn func(*scoring.Scorer) error) { s.accept.Store(&fn) }

// Routes lists the routes.
func (s *Set) Routes() []*Route { return s.routes }

// For returns the route of a topic (nil if none).
func (s *Set) For(topic string) *Route { return s.byTopic[topic] }

// Open loads every route. Each topic of inputs must be routed exactly
// once and every routed topic must be an input.
func Open(specs []RouteSpec, defaults scoring.Policy, inputs []string) (*Set, error) {
	s := &Set{byTopic: map[string]*Route{}}
	for i, spec := range specs {
		pol := defaults
		if spec.Threshold != nil {
			pol.Threshold = *spec.Threshold
		}
		if spec.RiskBands != nil {
			if len(spec.RiskBands) != 2 {
				return nil, fmt.Errorf("model %d (%s): risk_bands wants two numbers", i, spec.Path)
			}
			pol.Bands = [2]float64{spec.RiskBands[0], spec.RiskBands[1]}
		}
		if err := pol.Validate(); err != nil {
			return nil, fmt.Errorf("model %d (%s): %w", i, spec.Path, err)
		}
		r := &Route{Spec: spec, Policy: pol}
		sc, stamp, err := r.load()
		if err != nil {
			return nil, err
		}
		r.current, r.stamp = scoring.NewCurrent(sc), stamp
		if sh := spec.Shadow; sh != nil {
			if name := r.ShadowName(); name == sc.Info().Name {
				return nil, fmt.Errorf("model %d (%s): shadow %s has the champion's model name %q: give it its own (shadow: {name: ...}), so that its predictions and metrics can be told apart",
					i, spec.Path, sh.Path, name)
			}
			r.shadow = scoring.NewCurrent(nil)
			ssc, sstamp, err := r.loadShadow()
			if err != nil {
				// never the champion's problem: the route serves without
				// its challenger until a reload loads it
				r.shadowErr = fmt.Errorf("shadow of model %d (%s): %w", i, spec.Path, err)
				r.shadowStamp, _ = stampOf(sh.Path, sh.Features)
			} else {
				r.shadow.Swap(ssc)
				r.shadowStamp = sstamp
			}
		}
		for _, t := range spec.Topics {
			if _, dup := s.byTopic[t]; dup {
				return nil, fmt.Errorf("topic %q is routed to two models", t)
			}
			if !slices.Contains(inputs, t) {
				return nil, fmt.Errorf("model %s is routed from topic %q, which is not in INPUT_TOPICS %v", spec.Path, t, inputs)
			}
			s.byTopic[t] = r
		}
		s.routes = append(s.routes, r)
	}
	for _, t := range inputs {
		if s.byTopic[t] == nil {
			return nil, fmt.Errorf("input topic %q has no model (add it to a route's topics)", t)
		}
	}
	return s, nil
}

// Static builds a set from scorers already loaded (the demo's embedded
// models): routes without files, never reloaded.
func Static(routes map[string]*scoring.Scorer) *Set {
	s := &Set{byTopic: map[string]*Route{}}
	for topic, sc := range routes {
		r := &Route{Spec: RouteSpec{Topics: []string{topic}, Name: sc.Info().Name}, Policy: sc.Policy(), current: scoring.NewCurrent(sc)}
		s.routes = append(s.routes, r)
		s.byTopic[topic] = r
	}
	return s
}

// load reads the route's files into a scorer and returns it with the
// files' identity stamp.
func (r *Route) load() (*scoring.Scorer, string, error) {
	return loadFiles(r.Spec.Path, r.Spec.Features, r.Spec.Format, r.Spec.Name, r.Policy)
}

// loadShadow is load for the route's challenger.
func (r *Route) loadShadow() (*scoring.Scorer, string, error) {
	sh := r.Spec.Shadow
	return loadFiles(sh.Path, sh.Features, sh.Format, modelName(sh.Name, sh.Path), r.Policy)
}

func loadFiles(path, features, format, name string, policy scoring.Policy) (*scoring.Scorer, string, error) {
	stamp, err := stampOf(path, features)
	if err != nil {
		return nil, "", err
	}
	m, err := load.Model(path, format, name)
	if errors.Is(err, load.ErrUnknownFormat) {
		return nil, "", fmt.Errorf("%w: name it with MODEL_FORMAT (or format: in the MODELS_FILE route): xgboost, onnx, linear or lightgbm", err)
	}
	if err != nil {
		return nil, "", err
	}
	var specs []scoring.FeatureSpec
	if features != "" {
		if specs, err = scoring.ReadFeatureFile(features); err != nil {
			return nil, "", fmt.Errorf("%s: %w", features, err)
		}
	}
	sc, err := scoring.NewScorer(m, specs, policy)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return sc, stamp, nil
}

// fileStamp identifies the current content of the route's files: their
// resolved paths (ConfigMaps swap a symlink), sizes and modification times.
func (r *Route) fileStamp() (string, error) { return stampOf(r.Spec.Path, r.Spec.Features) }

func stampOf(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		if p == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", err
		}
		fi, err := os.Stat(real)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s|%d|%d;", real, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// Result is the outcome of one route's reload.
type Result struct {
	Route      *Route
	Shadow     bool   // the route's challenger (Route.Shadow) was reloaded, not its model
	Swapped    bool   // a new scorer is in service
	Err        error  // the files failed to load: the old scorer serves on
	OldVersion string // model versions before and after
	NewVersion string
}

// Reload checks every file-backed route and swaps in a freshly loaded
// scorer where the files changed (or for every route when force is set).
func (s *Set) Reload(force bool) []Result {
	var out []Result
	var accept func(*scoring.Scorer) error
	if fn := s.accept.Load(); fn != nil {
		accept = *fn
	}
	for _, r := range s.routes {
		if r.Spec.Path == "" {
			continue
		}
		if res, ok := r.reload(force, accept); ok {
			out = append(out, res)
		}
		if res, ok := r.reloadShadow(force, accept); ok {
			out = append(out, res)
		}
	}
	return out
}

func (r *Route) reload(force bool, accept func(*scoring.Scorer) error) (Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, err := r.fileStamp()
	if err == nil && stamp == r.stamp && !force {
		return Result{}, false
	}
	old := r.current.Load().Info().Version
	res := Result{Route: r, OldVersion: old, NewVersion: old}
	if err != nil {
		res.Err = err
		return res, true
	}
	sc, loaded, err := r.load()
	if err == nil && accept != nil {
		err = accept(sc)
	}
	if err != nil {
		// Remember the stamp so a broken file is reported once, not at
		// every poll; a fixed file has a new stamp and loads.
		r.stamp = stamp
		res.Err = err
		return res, true
	}
	r.current.Swap(sc)
	r.stamp = loaded
	res.Swapped, res.NewVersion = true, sc.Info().Version
	return res, true
}

// reloadShadow is reload for the route's challenger. A challenger that
// never loaded reports its versions as "".
func (r *Route) reloadShadow(force bool, accept func(*scoring.Scorer) error) (Result, bool) {
	sh := r.Spec.Shadow
	if sh == nil {
		return Result{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, err := stampOf(sh.Path, sh.Features)
	if err == nil && stamp == r.shadowStamp && !force {
		return Result{}, false
	}
	old := ""
	if cur := r.shadow.Load(); cur != nil {
		old = cur.Info().Version
	}
	res := Result{Route: r, Shadow: true, OldVersion: old, NewVersion: old}
	if err != nil {
		res.Err = err
		return res, true
	}
	sc, loaded, err := r.loadShadow()
	if err == nil && accept != nil {
		err = accept(sc)
	}
	if err != nil {
		r.shadowStamp = stamp
		res.Err = err
		return res, true
	}
	r.shadow.Swap(sc)
	r.shadowStamp = loaded
	res.Swapped, res.NewVersion = true, sc.Info().Version
	return res, true
}

// Poll calls Reload(false) every interval until stop is closed, and
// Reload(true) whenever force receives; report gets every result.
func (s *Set) Poll(stop <-chan struct{}, interval time.Duration, force <-chan struct{}, report func(Result)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var results []Result
		select {
		case <-stop:
			return
		case <-t.C:
			results = s.Reload(false)
		case <-force:
			results = s.Reload(true)
		}
		for _, res := range results {
			report(res)
		}
	}
}

// decodeFile decodes the one document of a MODELS_FILE, refusing unknown
// keys with their line and the keys allowed.
func decodeFile(b []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return f, nil // empty: ParseFile says what is missing
		}
		return f, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return f, fmt.Errorf("line %d: a second YAML document (after ---); MODELS_FILE holds one", more.Line)
	} else if !errors.Is(err, io.EOF) {
		return f, err
	}
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		top := doc.Content[0]
		for i := 0; i+1 < len(top.Content); i += 2 {
			k, v := top.Content[i], top.Content[i+1]
			if k.Value != "models" {
				return f, fmt.Errorf("line %d: unknown key %q (want models)", k.Line, k.Value)
			}
			if v.Kind != yaml.SequenceNode {
				continue // the decoder says what is wrong
			}
			allowed := yamlKeys(reflect.TypeFor[RouteSpec]())
			shadowKeys := yamlKeys(reflect.TypeFor[ShadowSpec]())
			for n, route := range v.Content {
				for j := 0; route.Kind == yaml.MappingNode && j+1 < len(route.Content); j += 2 {
					if rk := route.Content[j]; !slices.Contains(allowed, rk.Value) {
						return f, fmt.Errorf("line %d: model %d: unknown key %q (want %s)", rk.Line, n, rk.Value, strings.Join(allowed, ", "))
					}
					if rk, sv := route.Content[j], route.Content[j+1]; rk.Value == "shadow" && sv.Kind == yaml.MappingNode {
						for k := 0; k+1 < len(sv.Content); k += 2 {
							if sk := sv.Content[k]; !slices.Contains(shadowKeys, sk.Value) {
								return f, fmt.Errorf("line %d: model %d: shadow: unknown key %q (want %s)", sk.Line, n, sk.Value, strings.Join(shadowKeys, ", "))
							}
						}
					}
				}
			}
		}
	}
	err := doc.Decode(&f)
	return f, err
}

// yamlKeys are the yaml keys of a struct type's fields.
func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
