package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
)

// Variable is one environment variable of Config: its name and default
// from the struct's tags, and a short description.
type Variable struct {
	Name        string
	Default     string // the envDefault tag; empty when there is none
	Description string
}

// descriptions says what each variable of Config is for; the names and
// defaults come from Config's tags (Variables), so the list printed by
// `streamscore run --help` cannot drift from what Load reads. A test
// checks that every variable has a description and every description a
// variable. A description may start with "(default text) " for a
// variable whose default is not a constant.
var descriptions = map[string]string{
	"KAFKA_BROKERS":                  "seed brokers, comma-separated host:port",
	"KAFKA_GROUP_ID":                 "consumer group",
	"KAFKA_GROUP_INSTANCE_ID":        "static membership: a restarted instance takes its partitions back at once (and does not leave the group on shutdown)",
	"START_OFFSET":                   "where a group with no committed offset starts: earliest or latest",
	"KAFKA_COMPRESSION":              "producer compression: none, gzip, snappy, lz4 or zstd",
	"KAFKA_TRANSACTIONAL_ID":         "(derived) KAFKA_GROUP_ID-KAFKA_GROUP_INSTANCE_ID (or -hostname), for DELIVERY=exactly-once; stable per instance",
	"KAFKA_TLS_ENABLED":              "TLS to the brokers (TLS 1.2+)",
	"KAFKA_TLS_CA_FILE":              "(system roots) PEM of the CA(s) that signed the brokers' certificates",
	"KAFKA_TLS_CERT_FILE":            "client certificate (mutual TLS; with KAFKA_TLS_KEY_FILE)",
	"KAFKA_TLS_KEY_FILE":             "client key (mutual TLS; with KAFKA_TLS_CERT_FILE)",
	"KAFKA_TLS_SERVER_NAME":          "(broker host) name expected in the brokers' certificates",
	"KAFKA_TLS_INSECURE_SKIP_VERIFY": "skip certificate verification (only when set explicitly)",
	"KAFKA_SASL_MECHANISM":           "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
	"KAFKA_SASL_USERNAME":            "SASL user (required with a mechanism)",
	"KAFKA_SASL_PASSWORD":            "SASL password (or KAFKA_SASL_PASSWORD_FILE)",
	"KAFKA_SASL_PASSWORD_FILE":       "file holding the SASL password (trailing newline dropped)",
	"COMMIT_INTERVAL":                "how often acknowledged offsets are committed",
	"INPUT_TOPICS":                   "topics to score, comma-separated: topic or topic:kind (transaction or activity)",
	"OUTPUT_TOPIC":                   "predictions topic (key = entity id)",
	"DLQ_TOPIC":                      "dead-letter topic",
	"INPUT_ENCODING":                 "avro (plain Avro binary), avro-confluent (Confluent wire format) or json",
	"OUTPUT_ENCODING":                "avro, avro-confluent or json, for predictions",
	"SCHEMA_REGISTRY_URL":            "Confluent Schema Registry, http:// or https:// (required with avro-confluent)",
	"SCHEMA_REGISTRY_USERNAME":       "schema registry basic-auth user",
	"SCHEMA_REGISTRY_PASSWORD":       "schema registry basic-auth password",
	"ENTITY_FIELD":                   "field holding the entity id (also the prediction key)",
	"EVENT_ID_FIELD":                 "field holding the event id",
	"EVENT_TIME_FIELD":               "field holding the event time (Avro timestamp-millis; JSON RFC 3339 or epoch ms)",
	"BATCH_MAX_SIZE":                 "a batch closes at this many records...",
	"BATCH_INTERVAL":                 "...or when its oldest record has waited this long",
	"MAX_IN_FLIGHT_RECORDS":          "records polled but not yet acknowledged (>= BATCH_MAX_SIZE); fetching pauses at the limit",
	"MAX_IN_FLIGHT_BYTES":            "key and value bytes of those records; also bounds the producer's buffer",
	"SHUTDOWN_TIMEOUT":               "bound on the whole shutdown: drain, final commit, leave",
	"DELIVERY":                       "at-least-once or exactly-once (Kafka transactions)",
	"MODEL_PATH":                     "(required) model file; it scores every input topic (required unless MODELS_FILE)",
	"MODEL_FORMAT":                   "auto (from the file), xgboost, onnx, linear or lightgbm",
	"MODEL_NAME":                     "(file name) model_name on predictions (default: the model file name without extension)",
	"FEATURES_PATH":                  "features file (YAML) mapping event fields to model inputs",
	"MODELS_FILE":                    "several models routed by topic (YAML); instead of MODEL_PATH",
	"BASELINE_PATH":                  "drift baseline of MODEL_PATH (written by streamscore baseline): per-input and score PSI as metrics",
	"MODEL_RELOAD_INTERVAL":          "how often model and features files are checked for changes (0: only on SIGHUP)",
	"SCORE_THRESHOLD":                "label = 1 when score > threshold (a tie is class 0)",
	"RISK_BANDS":                     "risk_segment: Low below the first, Medium from it, High from the second",
	"HTTP_MAX_BODY_BYTES":            "largest HTTP request body (413 above)",
	"HTTP_MAX_BATCH":                 "most events or rows per HTTP request (413 above)",
	"HTTP_ADDR":                      "HTTP address: metrics, health, /v1/predict, Open Inference Protocol",
	"HTTP_PPROF":                     "serve Go's profiles under /debug/pprof/ on HTTP_ADDR",
	"PREDICTION_FEATURES":            "add each prediction's model inputs (features) to it, as the model saw them",
	"REASONS_TOP_K":                  "add reasons to predictions: the K features of largest exact TreeSHAP contribution (0: none)",
	"REASONS_FOR":                    "which predictions get reasons: flagged (label 1) or all",
	"LABELS_TOPIC":                   "delayed labels {event_id, label} keyed by entity, co-partitioned with the inputs (same partition count): online AUC, log loss, Brier, ECE per model and version as metrics; malformed labels are counted, never dead letters",
	"LABEL_ENCODING":                 "json or avro (plain Avro binary, schemas/label.avsc), for LABELS_TOPIC",
	"LABEL_WINDOW":                   "how long a prediction is kept to be joined with its label",
	"LABEL_MAX_PREDICTIONS":          "predictions kept per lane for their labels (about 83 bytes each); the oldest go first beyond it",
	"LABEL_PENDING_FOR":              "how long a label that arrived before its prediction waits for it (then counted unknown)",
	"LABEL_REBUILD":                  "on assignment, rebuild a partition's label state: read back its predictions of the last LABEL_WINDOW from the output topics and its labels up to the committed offset (scoring goes on meanwhile)",
	"LABEL_REBUILD_TIMEOUT":          "bound on one label-state rebuild; past it what was read is replayed (the rest of the window's labels end unknown)",
	"ENTITY_MAX_IDLE":                "entity aggregates: how long a lane waits for a partition that is behind its high watermark before it scores the others (a bound for a fetch that does not come; no latency on a caught-up stream)",
	"ENTITY_STATE_MAX_BYTES":         "entity aggregates: the process's entity state bound, shared equally by the lanes; beyond its share a lane evicts the least recently seen entities (their aggregates are missing, counted)",
	"ENTITY_REBUILD_SLACK":           "entity aggregates: a rebuild or backfill warm-up reads this much further back than the longest window",
	"ENTITY_PARTITIONER":             "entity aggregates: the producers' partitioner, for /v1/predict: murmur2 (Java, franz-go) or crc32 (librdkafka)",
	"LOG_LEVEL":                      "debug, info, warn or error",
	"LOG_FORMAT":                     "json or text",
}

// Variables lists every environment variable Load reads, in the order of
// Config's fields, with its default and description.
func Variables() []Variable {
	t := reflect.TypeFor[Config]()
	var out []Variable
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		out = append(out, Variable{Name: name, Default: f.Tag.Get("envDefault"), Description: descriptions[name]})
	}
	return out
}

// PrintVariables writes the variables as a table: name, default (or the
// default's description, or "-"), description.
func PrintVariables(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, v := range Variables() {
		def, desc := v.Default, v.Description
		if rest, ok := strings.CutPrefix(desc, "("); ok && def == "" {
			if d, r, ok := strings.Cut(rest, ") "); ok {
				def, desc = "("+d+")", r
			}
		}
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, desc)
	}
	return tw.Flush()
}
