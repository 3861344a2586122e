package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/config"
	"github.com/streamscore/streamscore/internal/lane"
	"github.com/streamscore/streamscore/internal/testkafka"
	"github.com/streamscore/streamscore/schemas"
)

// BenchmarkLabelRebuild measures how fast a label rebuild reads
// predictions back (kfake, in process: the figures are upper bounds of a
// real broker's, and a ratio to the raw read is what carries over): read
// is a whole rebuild of two lanes from a 3-partition output topic of
// 100,000 predictions, fetch only reads the same records (no decoding).
func BenchmarkLabelRebuild(b *testing.B) {
	for _, enc := range []string{"json", "avro"} {
		b.Run(enc, func(b *testing.B) { benchLabelRebuild(b, enc) })
	}
}

func benchLabelRebuild(b *testing.B, encoding string) {
	const n = 100_000
	addrs := testkafka.Cluster(b, testkafka.Topic{Name: "transactions", Partitions: 2}, testkafka.Topic{Name: "labels", Partitions: 2},
		testkafka.Topic{Name: "predictions", Partitions: 3}, testkafka.Topic{Name: "predictions-dlq", Partitions: 1})
	env := map[string]string{"KAFKA_BROKERS": strings.Join(addrs, ","), "INPUT_TOPICS": "transactions",
		"INPUT_ENCODING": "json", "OUTPUT_ENCODING": encoding, "MODEL_PATH": fraudModel, "LABELS_TOPIC": "labels", "SHUTDOWN_TIMEOUT": "2s"}
	cfg, err := config.Load(env)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cl := testkafka.Client(b, addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "transactions", Partition: 0, At: n})
	offs.Add(kadm.Offset{Topic: "transactions", Partition: 1, At: n})
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, cfg.GroupID, offs); err != nil {
		b.Fatal(err)
	}
	enc, _ := schemas.NewPredictionEncoder(schemas.Encoding(encoding))
	now := time.Now()
	recs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		pr := schemas.Prediction{EventID: fmt.Sprintf("transaction-%d", i), EntityID: fmt.Sprintf("c%d", i%1000), EventType: "transaction",
			Score: float64(i%1000) / 1000, Label: int32(i % 2), RiskSegment: "Low", ModelName: "xgb_fraud", ModelVersion: "v1",
			EventTime: schemas.Millis(now), ScoredAt: schemas.Millis(now), Source: schemas.Source{Topic: "transactions", Partition: int32(i % 2), Offset: int64(i / 2)}}
		v, err := enc.Append(nil, &pr)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: "predictions", Partition: int32(i % 3), Key: []byte(pr.EntityID), Value: v, Timestamp: now})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	p, err := New(ctx, cfg, WithKafkaOptions(testkafka.ClientOpts()...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stopped, stop := context.WithCancel(context.Background())
		stop()
		_ = p.Run(stopped)
	})
	lr := p.runner.(*atLeastOnce).lrb
	for lr.nextID.Load() == 0 || lr.rebuilding() > 0 { // the member's own rebuild, at its assignment, reads them too
		time.Sleep(10 * time.Millisecond)
	}
	tps := []lane.Partition{{Topic: "transactions", Partition: 0}, {Topic: "transactions", Partition: 1}}
	rcl, err := kgo.NewClient(lr.conn...)
	if err != nil {
		b.Fatal(err)
	}
	defer rcl.Close()
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			_, st, err := lr.read(ctx, rcl, lr.lanePartitions(tps, []int32{0, 1}), nil, []int32{0, 1})
			if err != nil || st.predictions != n {
				b.Fatalf("%d predictions read back, want %d (%v)", st.predictions, n, err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "predictions/s")
	})
	b.Run("fetch", func(b *testing.B) {
		ranges := map[lane.Partition]offsetRange{}
		testkafka.EndOffsets(b, addrs, "predictions").Each(func(o kadm.ListedOffset) {
			ranges[lane.Partition{Topic: o.Topic, Partition: o.Partition}] = offsetRange{0, o.Offset}
		})
		for b.Loop() {
			got := 0
			if err := readRanges(ctx, lr.conn, false, ranges, func(_ lane.Partition, recs []*kgo.Record) { got += len(recs) }); err != nil || got != n {
				b.Fatalf("%d records read, want %d (%v)", got, n, err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
