package producer

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Compression is the producer option for a KAFKA_COMPRESSION value
// (none, gzip, snappy, lz4 or zstd; "" is none): franz-go's codecs, except
// that lz4 writes frames of 64 KiB blocks (LZ4Frames).
func Compression(s string) (kgo.ProducerOpt, error) {
	switch s {
	case "none", "":
		return kgo.ProducerBatchCompression(kgo.NoCompression()), nil
	case "gzip":
		return kgo.ProducerBatchCompression(kgo.GzipCompression()), nil
	case "snappy":
		return kgo.ProducerBatchCompression(kgo.SnappyCompression()), nil
	case "lz4":
		return kgo.WithCompressor(LZ4Frames()), nil
	case "zstd":
		return kgo.ProducerBatchCompression(kgo.ZstdCompression()), nil
	}
	return nil, fmt.Errorf("unknown compression %q (want none, gzip, snappy, lz4 or zstd)", s)
}

// LZ4Frames returns a franz-go Compressor that writes each record batch as
// an LZ4 frame of 64 KiB blocks, as Kafka's Java client and librdkafka
// write them. franz-go's own lz4 writer declares 4 MiB blocks, and a frame
// makes its writer and every reader of it (franz-go and pierrec/lz4
// consumers, this service's own fetches of such input) hold a buffer of
// its declared block size: 4 MiB per concurrent compression or
// decompression of batches that are rarely larger than 1 MB. The blocks
// are independent, so the output is the same LZ4 a 4 MiB-block frame
// decodes to, in a few more block headers for batches over 64 KiB.
//
// It is safe for concurrent use; it compresses with lz4's fast level, as
// franz-go's default does. Compress returns nil (the batch goes out
// uncompressed) if the writer fails, which it does not on a bytes.Buffer.
// franz-go's kgo.StreamingCompression only works with its own compressor:
// with this one that option would do nothing (the service does not set it).
func LZ4Frames() kgo.Compressor {
	return &lz4Frames{pool: sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			panic(err) // a constant option: cannot fail
		}
		return w
	}}}
}

type lz4Frames struct{ pool sync.Pool }

func (c *lz4Frames) Compress(dst *bytes.Buffer, src []byte, _ ...kgo.CompressFlag) ([]byte, kgo.CompressionCodecType) {
	w := c.pool.Get().(*lz4.Writer)
	defer func() {
		w.Reset(nil) // the pooled writer keeps no reference to dst
		c.pool.Put(w)
	}()
	w.Reset(dst)
	if _, err := w.Write(src); err != nil {
		return nil, kgo.CodecError
	}
	if err := w.Close(); err != nil {
		return nil, kgo.CodecError
	}
	return dst.Bytes(), kgo.CodecLz4
}
