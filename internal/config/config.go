package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Config is every setting of streamscore run (and of backfill, which reads
// the same environment). The README's table lists them; keep both in step.
type Config struct {
	// Kafka
	Brokers             []string      `env:"KAFKA_BROKERS" envDefault:"localhost:9092" envSeparator:","`
	GroupID             string        `env:"KAFKA_GROUP_ID" envDefault:"streamscore"`
	GroupInstanceID     string        `env:"KAFKA_GROUP_INSTANCE_ID"`
	StartOffset         string        `env:"START_OFFSET" envDefault:"earliest"`
	Compression         string        `env:"KAFKA_COMPRESSION" envDefault:"lz4"`
	TransactionalID     string        `env:"KAFKA_TRANSACTIONAL_ID"`
	TLSEnabled          bool          `env:"KAFKA_TLS_ENABLED" envDefault:"false"`
	TLSCAFile           string        `env:"KAFKA_TLS_CA_FILE"`
	TLSCertFile         string        `env:"KAFKA_TLS_CERT_FILE"`
	TLSKeyFile          string        `env:"KAFKA_TLS_KEY_FILE"`
	TLSServerName       string        `env:"KAFKA_TLS_SERVER_NAME"`
	TLSInsecureSkip     bool          `env:"KAFKA_TLS_INSECURE_SKIP_VERIFY" envDefault:"false"`
	SASLMechanism       string        `env:"KAFKA_SASL_MECHANISM"`
	SASLUsername        string        `env:"KAFKA_SASL_USERNAME"`
	SASLPassword        string        `env:"KAFKA_SASL_PASSWORD"`
	SASLPasswordFile    string        `env:"KAFKA_SASL_PASSWORD_FILE"`
	CommitInterval      time.Duration `env:"COMMIT_INTERVAL" envDefault:"1s"`
	InputTopics         []string      `env:"INPUT_TOPICS" envDefault:"transactions" envSeparator:","`
	OutputTopic         string        `env:"OUTPUT_TOPIC" envDefault:"predictions"`
	DLQTopic            string        `env:"DLQ_TOPIC" envDefault:"predictions-dlq"`
	InputEncoding       string        `env:"INPUT_ENCODING" envDefault:"avro"`
	OutputEncoding      string        `env:"OUTPUT_ENCODING" envDefault:"avro"`
	SchemaRegistryURL   string        `env:"SCHEMA_REGISTRY_URL"`
	SchemaRegistryUser  string        `env:"SCHEMA_REGISTRY_USERNAME"`
	SchemaRegistryPass  string        `env:"SCHEMA_REGISTRY_PASSWORD"`
	EntityField         string        `env:"ENTITY_FIELD" envDefault:"customer_id"`
	EventIDField        string        `env:"EVENT_ID_FIELD" envDefault:"event_id"`
	EventTimeField      string        `env:"EVENT_TIME_FIELD" envDefault:"event_time"`
	BatchMaxSize        int           `env:"BATCH_MAX_SIZE" envDefault:"500"`
	BatchInterval       time.Duration `env:"BATCH_INTERVAL" envDefault:"20ms"`
	MaxInFlightRecords  int           `env:"MAX_IN_FLIGHT_RECORDS" envDefault:"20000"`
	MaxInFlightBytes    int           `env:"MAX_IN_FLIGHT_BYTES" envDefault:"67108864"`
	ShutdownTimeout     time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s"`
	EntityMaxIdle       time.Duration `env:"ENTITY_MAX_IDLE" envDefault:"5s"`
	EntityStateMaxBytes int64         `env:"ENTITY_STATE_MAX_BYTES" envDefault:"536870912"`
	EntityRebuildSlack  time.Duration `env:"ENTITY_REBUILD_SLACK" envDefault:"5m"`
	EntityPartitioner   string        `env:"ENTITY_PARTITIONER" envDefault:"murmur2"`
	PredictionFeatures  bool          `env:"PREDICTION_FEATURES" envDefault:"false"`
	ReasonsTopK         int           `env:"REASONS_TOP_K" envDefault:"0"`
	ReasonsFor          string        `env:"REASONS_FOR" envDefault:"flagged"`
	LabelsTopic         string        `env:"LABELS_TOPIC"`
	LabelEncoding       string        `env:"LABEL_ENCODING" envDefault:"json"`
	LabelWindow         time.Duration `env:"LABEL_WINDOW" envDefault:"168h"`
	LabelMaxPredictions int           `env:"LABEL_MAX_PREDICTIONS" envDefault:"1000000"`
	LabelPendingFor     time.Duration `env:"LABEL_PENDING_FOR" envDefault:"10m"`
	LabelRebuild        bool          `env:"LABEL_REBUILD" envDefault:"true"`
	LabelRebuildTimeout time.Duration `env:"LABEL_REBUILD_TIMEOUT" envDefault:"10m"`
	Delivery            string        `env:"DELIVERY" envDefault:"at-least-once"`
	ModelPath           string        `env:"MODEL_PATH"`
	ModelFormat         string        `env:"MODEL_FORMAT" envDefault:"auto"`
	ModelName           string        `env:"MODEL_NAME"`
	FeaturesPath        string        `env:"FEATURES_PATH"`
	ModelsFile          string        `env:"MODELS_FILE"`
	BaselinePath        string        `env:"BASELINE_PATH"`
	ModelReloadInterval time.Duration `env:"MODEL_RELOAD_INTERVAL" envDefault:"5s"`
	ScoreThreshold      float64       `env:"SCORE_THRESHOLD" envDefault:"0.5"`
	RiskBands           []float64     `env:"RISK_BANDS" envDefault:"0.3,0.6" envSeparator:","`
	HTTPMaxBodyBytes    int64         `env:"HTTP_MAX_BODY_BYTES" envDefault:"1048576"`
	HTTPMaxBatch        int           `env:"HTTP_MAX_BATCH" envDefault:"1000"`
	HTTPAddr            string        `env:"HTTP_ADDR" envDefault:":8080"`
	HTTPPprof           bool          `env:"HTTP_PPROF" envDefault:"false"`
	LogLevel            string        `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat           string        `env:"LOG_FORMAT" envDefault:"json"`
}

// Load reads the configuration from environ (os.Environ as a map; nil
// means the process environment) and validates it.
func Load(environ map[string]string) (Config, error) {
	var c Config
	opts := env.Options{Environment: environ}
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return c, explain(err, environ)
	}
	return c, c.Validate()
}

// explain rewrites caarlos0/env's parse errors (which name Go fields) so
// that they name the variable and its value.
func explain(err error, environ map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	t := reflect.TypeOf(Config{})
	var out []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				name := f.Tag.Get("env")
				out = append(out, fmt.Errorf("%s=%q: want %s: %v", name, lookup(environ, name), kindOf(f.Type), pe.Err))
				continue
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func kindOf(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "a Go duration such as 250ms or 30s"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "an integer"
	case t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Float64:
		return "comma-separated numbers"
	}
	return t.String()
}

func lookup(environ map[string]string, name string) string {
	if environ != nil {
		return environ[name]
	}
	return os.Getenv(name)
}

// Validate checks every value and the combinations between them.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name string, value any, allowed string) {
		errs = append(errs, fmt.Errorf("%s=%v: %s", name, quote(value), allowed))
	}
	if len(nonEmpty(c.Brokers)) == 0 {
		bad("KAFKA_BROKERS", strings.Join(c.Brokers, ","), "want host:port[,host:port...]")
	}
	if c.GroupID == "" {
		bad("KAFKA_GROUP_ID", c.GroupID, "must not be empty")
	}
	if c.StartOffset != "earliest" && c.StartOffset != "latest" {
		bad("START_OFFSET", c.StartOffset, "want earliest or latest")
	}
	switch c.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad("KAFKA_COMPRESSION", c.Compression, "want none, gzip, snappy, lz4 or zstd")
	}
	if !c.TLSEnabled {
		for name, v := range map[string]string{"KAFKA_TLS_CA_FILE": c.TLSCAFile, "KAFKA_TLS_CERT_FILE": c.TLSCertFile, "KAFKA_TLS_KEY_FILE": c.TLSKeyFile} {
			if v != "" {
				bad(name, v, "has no effect without KAFKA_TLS_ENABLED=true")
			}
		}
		if c.TLSInsecureSkip {
			bad("KAFKA_TLS_INSECURE_SKIP_VERIFY", c.TLSInsecureSkip, "has no effect without KAFKA_TLS_ENABLED=true")
		}
	}
	switch c.SASLMechanism {
	case "":
		if c.SASLUsername != "" || c.SASLPassword != "" || c.SASLPasswordFile != "" {
			bad("KAFKA_SASL_MECHANISM", c.SASLMechanism, "set it (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) to use KAFKA_SASL_USERNAME and the password")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASLUsername == "" {
			bad("KAFKA_SASL_USERNAME", c.SASLUsername, "is required with KAFKA_SASL_MECHANISM")
		}
		switch {
		case c.SASLPassword != "" && c.SASLPasswordFile != "":
			bad("KAFKA_SASL_PASSWORD_FILE", c.SASLPasswordFile, "set either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
		case c.SASLPassword == "" && c.SASLPasswordFile == "":
			bad("KAFKA_SASL_PASSWORD", "(empty)", "a password (or KAFKA_SASL_PASSWORD_FILE) is required with KAFKA_SASL_MECHANISM")
		}
	default:
		bad("KAFKA_SASL_MECHANISM", c.SASLMechanism, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	}
	if (c.InputEncoding == "avro-confluent" || c.OutputEncoding == "avro-confluent") && c.SchemaRegistryURL == "" {
		bad("SCHEMA_REGISTRY_URL", c.SchemaRegistryURL, "is required with INPUT_ENCODING or OUTPUT_ENCODING avro-confluent")
	}
	if c.SchemaRegistryURL != "" {
		if u, err := url.Parse(c.SchemaRegistryURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("SCHEMA_REGISTRY_URL", c.SchemaRegistryURL, "want an http:// or https:// URL")
		}
	}
	if _, err := c.Inputs(); err != nil {
		bad("INPUT_TOPICS", strings.Join(c.InputTopics, ","), err.Error())
	}
	for name, v := range map[string]string{"OUTPUT_TOPIC": c.OutputTopic, "DLQ_TOPIC": c.DLQTopic,
		"ENTITY_FIELD": c.EntityField, "EVENT_ID_FIELD": c.EventIDField, "EVENT_TIME_FIELD": c.EventTimeField} {
		if strings.TrimSpace(v) == "" {
			bad(name, v, "must not be empty")
		}
	}
	if c.OutputTopic == c.DLQTopic && c.OutputTopic != "" {
		bad("DLQ_TOPIC", c.DLQTopic, "must differ from OUTPUT_TOPIC")
	}
	for _, in := range c.InputTopics {
		if in == c.OutputTopic || in == c.DLQTopic {
			bad("INPUT_TOPICS", in, "must not include OUTPUT_TOPIC or DLQ_TOPIC (the scorer would read its own output)")
		}
	}
	if _, err := schemas.ParseEncoding(c.InputEncoding); err != nil {
		bad("INPUT_ENCODING", c.InputEncoding, err.Error())
	}
	if _, err := schemas.ParseEncoding(c.OutputEncoding); err != nil {
		bad("OUTPUT_ENCODING", c.OutputEncoding, err.Error())
	}
	if c.BatchMaxSize < 1 || c.BatchMaxSize > 1_000_000 {
		bad("BATCH_MAX_SIZE", c.BatchMaxSize, "want 1 to 1000000 records")
	}
	if c.BatchInterval < time.Millisecond || c.BatchInterval > time.Hour {
		bad("BATCH_INTERVAL", c.BatchInterval, "want 1ms to 1h")
	}
	if c.MaxInFlightRecords < c.BatchMaxSize {
		bad("MAX_IN_FLIGHT_RECORDS", c.MaxInFlightRecords, fmt.Sprintf("want at least BATCH_MAX_SIZE (%d)", c.BatchMaxSize))
	}
	if c.MaxInFlightBytes < 1<<20 {
		bad("MAX_IN_FLIGHT_BYTES", c.MaxInFlightBytes, "want at least 1048576 (1 MiB)")
	}
	if c.ShutdownTimeout < time.Second {
		bad("SHUTDOWN_TIMEOUT", c.ShutdownTimeout, "want at least 1s")
	}
	if c.EntityMaxIdle < 0 || c.EntityMaxIdle > time.Minute {
		bad("ENTITY_MAX_IDLE", c.EntityMaxIdle, "want 0 to 1m")
	}
	if c.EntityStateMaxBytes < 0 {
		bad("ENTITY_STATE_MAX_BYTES", c.EntityStateMaxBytes, "want 0 (no bound) or a number of bytes")
	}
	if c.EntityRebuildSlack < 0 || c.EntityRebuildSlack > 24*time.Hour {
		bad("ENTITY_REBUILD_SLACK", c.EntityRebuildSlack, "want 0 to 24h")
	}
	switch c.EntityPartitioner {
	case "murmur2", "crc32":
	default:
		bad("ENTITY_PARTITIONER", c.EntityPartitioner, "want murmur2 (Java clients, franz-go, Kafka Streams) or crc32 (librdkafka's consistent partitioner)")
	}
	if c.ReasonsTopK < 0 || c.ReasonsTopK > 1000 {
		bad("REASONS_TOP_K", c.ReasonsTopK, "want 0 (no reasons) to 1000")
	}
	switch c.ReasonsFor {
	case "flagged", "all":
	default:
		bad("REASONS_FOR", c.ReasonsFor, "want flagged (predictions with label 1) or all")
	}
	if c.LabelsTopic != "" {
		if strings.TrimSpace(c.LabelsTopic) != c.LabelsTopic || strings.Contains(c.LabelsTopic, ",") {
			bad("LABELS_TOPIC", c.LabelsTopic, "want one topic name")
		}
		for _, t := range append(c.Topics(), c.OutputTopic, c.DLQTopic) {
			if t == c.LabelsTopic {
				bad("LABELS_TOPIC", c.LabelsTopic, "must differ from INPUT_TOPICS, OUTPUT_TOPIC and DLQ_TOPIC")
				break
			}
		}
	}
	switch c.LabelEncoding {
	case "json", "avro":
	default:
		bad("LABEL_ENCODING", c.LabelEncoding, "want json or avro (plain Avro binary with schemas/label.avsc)")
	}
	if c.LabelWindow < time.Second || c.LabelWindow > 90*24*time.Hour {
		bad("LABEL_WINDOW", c.LabelWindow, "want 1s to 2160h (90 days)")
	}
	if c.LabelMaxPredictions < 1 || c.LabelMaxPredictions > 100_000_000 {
		bad("LABEL_MAX_PREDICTIONS", c.LabelMaxPredictions, "want 1 to 100000000 predictions per lane")
	}
	if c.LabelPendingFor < time.Millisecond || c.LabelPendingFor > 24*time.Hour {
		bad("LABEL_PENDING_FOR", c.LabelPendingFor, "want 1ms to 24h")
	}
	if c.LabelRebuildTimeout < time.Second || c.LabelRebuildTimeout > 24*time.Hour {
		bad("LABEL_REBUILD_TIMEOUT", c.LabelRebuildTimeout, "want 1s to 24h")
	}
	if c.BaselinePath != "" && c.ModelsFile != "" {
		bad("BASELINE_PATH", c.BaselinePath, "is for MODEL_PATH; with MODELS_FILE give each route its baseline: key")
	}
	if c.CommitInterval < 10*time.Millisecond || c.CommitInterval > time.Minute {
		bad("COMMIT_INTERVAL", c.CommitInterval, "want 10ms to 1m")
	}
	switch c.Delivery {
	case "at-least-once":
	case "exactly-once":
	default:
		bad("DELIVERY", c.Delivery, "want at-least-once or exactly-once")
	}
	switch {
	case c.ModelsFile != "" && c.ModelPath != "":
		bad("MODEL_PATH", c.ModelPath, "set either MODEL_PATH or MODELS_FILE, not both")
	case c.ModelsFile == "" && c.ModelPath == "":
		bad("MODEL_PATH", c.ModelPath, "must name a model file (or set MODELS_FILE)")
	}
	if c.ModelReloadInterval != 0 && c.ModelReloadInterval < 100*time.Millisecond {
		bad("MODEL_RELOAD_INTERVAL", c.ModelReloadInterval, "want 0 (no polling; SIGHUP still reloads) or at least 100ms")
	}
	switch c.ModelFormat {
	case "auto", "xgboost", "onnx", "linear", "lightgbm":
	default:
		bad("MODEL_FORMAT", c.ModelFormat, "want auto, xgboost, onnx, linear or lightgbm")
	}
	if math.IsNaN(c.ScoreThreshold) || math.IsInf(c.ScoreThreshold, 0) {
		bad("SCORE_THRESHOLD", c.ScoreThreshold, "want a finite number")
	}
	if len(c.RiskBands) != 2 || (scoring.Policy{Threshold: 0, Bands: [2]float64{c.RiskBands[0], c.RiskBands[1]}}).Validate() != nil {
		bad("RISK_BANDS", c.RiskBands, "want two ascending finite numbers such as 0.3,0.6")
	}
	if c.HTTPMaxBodyBytes < 1024 || c.HTTPMaxBodyBytes > 1<<30 {
		bad("HTTP_MAX_BODY_BYTES", c.HTTPMaxBodyBytes, "want 1024 to 1073741824")
	}
	if c.HTTPMaxBatch < 1 || c.HTTPMaxBatch > 1_000_000 {
		bad("HTTP_MAX_BATCH", c.HTTPMaxBatch, "want 1 to 1000000")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", c.LogLevel, "want debug, info, warn or error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("LOG_FORMAT", c.LogFormat, "want json or text")
	}
	return errors.Join(errs...)
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if strings.TrimSpace(x) != "" {
			out = append(out, strings.TrimSpace(x))
		}
	}
	return out
}

// Input is one input topic and the event kind of its records.
type Input struct {
	Topic string
	Type  schemas.EventType
}

// Inputs parses INPUT_TOPICS: "topic" or "topic:kind" entries, kind being
// transaction or activity. Without a kind, a topic whose name contains
// "activit" carries activity events and any other carries transactions.
func (c *Config) Inputs() ([]Input, error) {
	var out []Input
	seen := map[string]bool{}
	for _, raw := range c.InputTopics {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		topic, kind, hasKind := strings.Cut(raw, ":")
		t := schemas.Transaction
		if strings.Contains(strings.ToLower(topic), "activit") {
			t = schemas.Activity
		}
		if hasKind {
			var err error
			if t, err = schemas.ParseEventType(kind); err != nil {
				return nil, err
			}
		}
		if topic == "" || seen[topic] {
			return nil, fmt.Errorf("empty or repeated topic in %q", raw)
		}
		seen[topic] = true
		out = append(out, Input{Topic: topic, Type: t})
	}
	if len(out) == 0 {
		return nil, errors.New("want at least one topic")
	}
	return out, nil
}

// Topics are the input topic names.
func (c *Config) Topics() []string {
	in, _ := c.Inputs()
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.Topic
	}
	return out
}

// Policy is the threshold and bands.
func (c *Config) Policy() scoring.Policy {
	return scoring.Policy{Threshold: c.ScoreThreshold, Bands: [2]float64{c.RiskBands[0], c.RiskBands[1]}}
}

// FieldNames are the identity field names.
func (c *Config) FieldNames() schemas.FieldNames {
	return schemas.FieldNames{ID: c.EventIDField, Entity: c.EntityField, Time: c.EventTimeField}
}
