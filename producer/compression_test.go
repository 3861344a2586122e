package producer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/testkafka"
)

func TestCompression(t *testing.T) {
	for _, name := range []string{"", "none", "gzip", "snappy", "lz4", "zstd"} {
		if opt, err := Compression(name); err != nil || opt == nil {
			t.Errorf("Compression(%q) = %v, %v", name, opt, err)
		}
	}
	if _, err := Compression("brotli"); err == nil || !strings.Contains(err.Error(), `"brotli"`) {
		t.Errorf("Compression(brotli): error %v, want one naming the value", err)
	}
}

// lz4BlockMax is the block maximum size an LZ4 frame declares (its BD
// byte), or an error when frame is not one.
func lz4BlockMax(frame []byte) (int, error) {
	if len(frame) < 7 || binary.LittleEndian.Uint32(frame) != 0x184D2204 {
		return 0, fmt.Errorf("not an LZ4 frame: % x", frame[:min(len(frame), 8)])
	}
	switch bd := frame[5] >> 4 & 7; bd {
	case 4, 5, 6, 7:
		return 1 << (8 + 2*bd), nil
	default:
		return 0, fmt.Errorf("BD byte %#x: invalid block size", frame[5])
	}
}

// batchValue is a record value that compresses, as predictions do.
func batchValue(i int) []byte {
	return fmt.Appendf(nil, `{"event_id":"e%06d","entity_id":"c%04d","score":0.%06d,"risk_segment":"Low","model":"fraud"}`, i, i%977, i*7919%1000000)
}

// batchOf is a batch of batchValues of at least size bytes.
func batchOf(size int) []byte {
	var src []byte
	for i := 0; len(src) < size; i++ {
		src = append(src, batchValue(i)...)
	}
	return src
}

// TestLZ4FramesBlocks: a batch compresses to one LZ4 frame of 64 KiB
// blocks that franz-go's decompressor and pierrec/lz4 read back to the
// same bytes; franz-go's own lz4 codec declares 4 MiB blocks, which make
// every reader of the frame hold a 4 MiB buffer.
func TestLZ4FramesBlocks(t *testing.T) {
	src := batchOf(300 << 10) // several blocks
	for _, tt := range []struct {
		name string
		c    func() kgo.Compressor
		want int
	}{
		{"LZ4Frames", LZ4Frames, 64 << 10},
		{"franz-go default", func() kgo.Compressor { c, _ := kgo.DefaultCompressor(kgo.Lz4Compression()); return c }, 4 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c()
			for round := range 3 { // a pooled writer compresses the same way again
				out, codec := c.Compress(new(bytes.Buffer), src)
				if codec != kgo.CodecLz4 || len(out) >= len(src) {
					t.Fatalf("round %d: codec %v, %d bytes from %d", round, codec, len(out), len(src))
				}
				if got, err := lz4BlockMax(out); err != nil || got != tt.want {
					t.Fatalf("round %d: block size %d (%v), want %d", round, got, err, tt.want)
				}
				back, err := kgo.DefaultDecompressor().Decompress(out, kgo.CodecLz4)
				if err != nil || !bytes.Equal(back, src) {
					t.Fatalf("round %d: franz-go decompressed %d bytes (%v), want the %d compressed", round, len(back), err, len(src))
				}
				back, err = io.ReadAll(lz4.NewReader(bytes.NewReader(out)))
				if err != nil || !bytes.Equal(back, src) {
					t.Fatalf("round %d: lz4 read %d bytes (%v), want the %d compressed", round, len(back), err, len(src))
				}
			}
		})
	}
}

// TestLZ4FramesConcurrent: writers from the pool never mix two batches.
func TestLZ4FramesConcurrent(t *testing.T) {
	c := LZ4Frames()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				src := bytes.Repeat(batchValue(g*1000+i), 20+i%50)
				out, _ := c.Compress(new(bytes.Buffer), src)
				back, err := kgo.DefaultDecompressor().Decompress(out, kgo.CodecLz4)
				if err != nil || !bytes.Equal(back, src) {
					t.Errorf("goroutine %d batch %d: %d bytes back (%v), want %d", g, i, len(back), err, len(src))
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestProducerWritesLZ4Frames: with KAFKA_COMPRESSION=lz4 the producer's
// batches reach the broker as LZ4 of 64 KiB blocks, and a consumer reads
// the records back unchanged.
func TestProducerWritesLZ4Frames(t *testing.T) {
	c, addrs := testkafka.ClusterHandle(t, testkafka.Topic{Name: "predictions", Partitions: 1}, testkafka.Topic{Name: "dlq", Partitions: 1})
	var mu sync.Mutex
	var blocks []int
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(p.Records); err != nil {
					t.Errorf("produce request: %v", err)
					continue
				}
				if codec := b.Attributes & 7; codec != int16(kgo.CodecLz4) {
					t.Errorf("batch codec %d, want lz4", codec)
					continue
				}
				n, err := lz4BlockMax(b.Records)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				blocks = append(blocks, n)
				mu.Unlock()
			}
		}
		return nil, nil, false // the broker handles it
	})
	p := newTestProducer(t, addrs, func(o *Options) { o.Compression = "lz4" })
	const n = 2000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "predictions", Key: []byte("k"), Value: batchValue(i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := testkafka.ReadN(t, addrs, "predictions", n, 10*time.Second)
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	for i, r := range got {
		if !bytes.Equal(r.Value, batchValue(i)) {
			t.Fatalf("record %d: %q, want %q", i, r.Value, batchValue(i))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(blocks) == 0 {
		t.Fatal("no produce request seen")
	}
	for _, b := range blocks {
		if b != 64<<10 {
			t.Fatalf("block sizes %v, want 64 KiB each", blocks)
		}
	}
}

// BenchmarkCompressLZ4: a batch of predictions (16 KiB, 256 KiB) through
// LZ4Frames and through franz-go's own lz4 codec.
func BenchmarkCompressLZ4(b *testing.B) {
	def, _ := kgo.DefaultCompressor(kgo.Lz4Compression())
	for _, size := range []int{16 << 10, 256 << 10} {
		src := batchOf(size)
		for _, c := range []struct {
			name string
			c    kgo.Compressor
		}{{"LZ4Frames", LZ4Frames()}, {"franz-go", def}} {
			b.Run(fmt.Sprintf("%s/%dKiB", c.name, size>>10), func(b *testing.B) {
				var dst bytes.Buffer
				b.SetBytes(int64(len(src)))
				b.ReportAllocs()
				for b.Loop() {
					dst.Reset()
					if out, _ := c.c.Compress(&dst, src); len(out) == 0 {
						b.Fatal("nothing compressed")
					}
				}
			})
		}
	}
}
