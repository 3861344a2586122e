package config

import (
	"strings"
	"testing"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

func base() map[string]string { return map[string]string{"MODEL_PATH": "m.json"} }

func TestDefaults(t *testing.T) {
	c, err := Load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchMaxSize != 500 || c.BatchInterval != 20*time.Millisecond || c.GroupID != "streamscore" ||
		c.StartOffset != "earliest" || c.OutputTopic != "predictions" || c.DLQTopic != "predictions-dlq" ||
		c.InputEncoding != "avro" || c.ShutdownTimeout != 30*time.Second || c.Compression != "lz4" ||
		c.Policy().Threshold != 0.5 || c.Policy().Bands != [2]float64{0.3, 0.6} || c.HTTPAddr != ":8080" {
		t.Errorf("defaults = %+v", c)
	}
	in, _ := c.Inputs()
	if len(in) != 1 || in[0] != (Input{"transactions", schemas.Transaction}) {
		t.Errorf("inputs = %+v", in)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"BATCH_MAX_SIZE": "abc"}, `BATCH_MAX_SIZE="abc": want an integer`},
		{map[string]string{"BATCH_INTERVAL": "5"}, `BATCH_INTERVAL="5": want a Go duration`},
		{map[string]string{"BATCH_MAX_SIZE": "0"}, "BATCH_MAX_SIZE=0: want 1 to 1000000"},
		{map[string]string{"START_OFFSET": "middle"}, `START_OFFSET="middle": want earliest or latest`},
		{map[string]string{"INPUT_ENCODING": "xml"}, `INPUT_ENCODING="xml"`},
		{map[string]string{"RISK_BANDS": "0.7,0.2"}, "RISK_BANDS=[0.7 0.2]: want two ascending"},
		{map[string]string{"RISK_BANDS": "0.7"}, "RISK_BANDS"},
		{map[string]string{"SCORE_THRESHOLD": "high"}, `SCORE_THRESHOLD="high": want a number`},
		{map[string]string{"MODEL_PATH": ""}, "MODEL_PATH"},
		{map[string]string{"INPUT_TOPICS": "a:sales"}, "INPUT_TOPICS"},
		{map[string]string{"INPUT_TOPICS": "predictions"}, "must not include OUTPUT_TOPIC"},
		{map[string]string{"DELIVERY": "maybe"}, "DELIVERY"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"KAFKA_COMPRESSION": "brotli"}, "KAFKA_COMPRESSION"},
		{map[string]string{"REASONS_TOP_K": "-1"}, "REASONS_TOP_K=-1: want 0 (no reasons) to 1000"},
		{map[string]string{"REASONS_FOR": "some"}, `REASONS_FOR="some": want flagged (predictions with label 1) or all`},
		{map[string]string{"ENTITY_PARTITIONER": "fnv"}, `ENTITY_PARTITIONER="fnv"`},
		{map[string]string{"ENTITY_MAX_IDLE": "-1s"}, "ENTITY_MAX_IDLE"},
	}
	for _, tt := range tests {
		env := base()
		for k, v := range tt.env {
			env[k] = v
		}
		_, err := Load(env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tt.env, err, tt.want)
		}
	}
}

func TestInputsKinds(t *testing.T) {
	env := base()
	env["INPUT_TOPICS"] = "transactions, activity,logins:activity,payments:transaction"
	c, err := Load(env)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := c.Inputs()
	want := []Input{{"transactions", schemas.Transaction}, {"activity", schemas.Activity}, {"logins", schemas.Activity}, {"payments", schemas.Transaction}}
	if len(in) != len(want) {
		t.Fatalf("inputs = %+v", in)
	}
	for i := range want {
		if in[i] != want[i] {
			t.Errorf("input %d = %+v, want %+v", i, in[i], want[i])
		}
	}
}

func TestModelFormats(t *testing.T) {
	for _, f := range []string{"auto", "xgboost", "onnx", "linear", "lightgbm"} {
		env := base()
		env["MODEL_FORMAT"] = f
		if c, err := Load(env); err != nil || c.ModelFormat != f {
			t.Errorf("MODEL_FORMAT=%s: %v", f, err)
		}
	}
	env := base()
	env["MODEL_FORMAT"] = "pmml"
	if _, err := Load(env); err == nil || !strings.Contains(err.Error(), "linear or lightgbm") {
		t.Errorf("MODEL_FORMAT=pmml: %v", err)
	}
}

func TestLabelSettings(t *testing.T) {
	c, err := Load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.LabelsTopic != "" || c.LabelEncoding != "json" || c.LabelWindow != 168*time.Hour || c.LabelMaxPredictions != 1_000_000 ||
		c.LabelPendingFor != 10*time.Minute || c.BaselinePath != "" || !c.LabelRebuild || c.LabelRebuildTimeout != 10*time.Minute {
		t.Errorf("label defaults: %q %q %v %d %v %q %v %v", c.LabelsTopic, c.LabelEncoding, c.LabelWindow, c.LabelMaxPredictions, c.LabelPendingFor,
			c.BaselinePath, c.LabelRebuild, c.LabelRebuildTimeout)
	}
	env := base()
	for k, v := range map[string]string{"LABELS_TOPIC": "labels", "LABEL_ENCODING": "avro", "LABEL_WINDOW": "2h",
		"LABEL_MAX_PREDICTIONS": "5000", "LABEL_PENDING_FOR": "30s", "BASELINE_PATH": "b.json", "LABEL_REBUILD": "false",
		"LABEL_REBUILD_TIMEOUT": "90s"} {
		env[k] = v
	}
	c, err = Load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.LabelsTopic != "labels" || c.LabelEncoding != "avro" || c.LabelWindow != 2*time.Hour || c.LabelMaxPredictions != 5000 ||
		c.LabelPendingFor != 30*time.Second || c.BaselinePath != "b.json" || c.LabelRebuild || c.LabelRebuildTimeout != 90*time.Second {
		t.Errorf("label settings: %+v", c)
	}
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LABELS_TOPIC": "transactions"}, `LABELS_TOPIC="transactions": must differ from INPUT_TOPICS`},
		{map[string]string{"LABELS_TOPIC": "predictions"}, `LABELS_TOPIC="predictions": must differ`},
		{map[string]string{"LABELS_TOPIC": "a,b"}, `LABELS_TOPIC="a,b": want one topic name`},
		{map[string]string{"LABEL_ENCODING": "avro-confluent"}, `LABEL_ENCODING="avro-confluent": want json or avro`},
		{map[string]string{"LABEL_WINDOW": "0s"}, "LABEL_WINDOW=0s: want 1s to 2160h"},
		{map[string]string{"LABEL_WINDOW": "week"}, `LABEL_WINDOW="week": want a Go duration`},
		{map[string]string{"LABEL_MAX_PREDICTIONS": "0"}, "LABEL_MAX_PREDICTIONS=0: want 1 to 100000000"},
		{map[string]string{"LABEL_PENDING_FOR": "0s"}, "LABEL_PENDING_FOR=0s: want 1ms to 24h"},
		{map[string]string{"LABEL_REBUILD_TIMEOUT": "500ms"}, "LABEL_REBUILD_TIMEOUT=500ms: want 1s to 24h"},
		{map[string]string{"LABEL_REBUILD": "maybe"}, `LABEL_REBUILD="maybe": want true or false`},
		{map[string]string{"BASELINE_PATH": "b.json", "MODELS_FILE": "m.yaml", "MODEL_PATH": ""}, `BASELINE_PATH="b.json": is for MODEL_PATH`},
	}
	for _, tt := range tests {
		env := base()
		for k, v := range tt.env {
			env[k] = v
		}
		if _, err := Load(env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tt.env, err, tt.want)
		}
	}
}
