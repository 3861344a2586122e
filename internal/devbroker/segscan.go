package devbroker

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The repairs at start (crashtxn.go, crashseq.go; run by repair.go) read
// what kfake appended before it died from its segment files:
// partitions/<topic>-<part>/<base>.dat (the topic URL path-escaped), each
// holding RecordBatch wire bytes back to back. scanLog reads them once and
// hands every batch to the repairs.

// partitionID names a partition.
type partitionID struct {
	topic string
	part  int32
}

func comparePartitions(a, b partitionID) int {
	return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part))
}

// segmentFile is a segment file of a partition: its base offset (its name)
// and its size on disk.
type segmentFile struct {
	base, size int64
}

// partitionLog is a partition directory and its segment files in offset
// order.
type partitionLog struct {
	partitionID
	dir      string
	segments []segmentFile
}

// RecordBatch attribute bits (Kafka RecordBatch v2).
const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// scanLog reads the segments of every partition under dataDir, in offset
// order, and passes each valid batch to visit (which must not keep it: the
// next batch is read into it). It returns the partitions it found, sorted.
func scanLog(dataDir string, visit func(partitionID, *kmsg.RecordBatch)) ([]partitionLog, error) {
	root := filepath.Join(dataDir, "partitions")
	dirs, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []partitionLog
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		i := strings.LastIndexByte(d.Name(), '-')
		if i <= 0 {
			continue
		}
		topic, err := url.PathUnescape(d.Name()[:i])
		part, perr := strconv.ParseInt(d.Name()[i+1:], 10, 32)
		if err != nil || perr != nil {
			continue
		}
		pl := partitionLog{partitionID: partitionID{topic, int32(part)}, dir: filepath.Join(root, d.Name())}
		if err := pl.scan(visit); err != nil {
			return nil, fmt.Errorf("partition %s-%d: %w", topic, part, err)
		}
		out = append(out, pl)
	}
	slices.SortFunc(out, func(a, b partitionLog) int { return comparePartitions(a.partitionID, b.partitionID) })
	return out, nil
}

// scan lists the partition's segment files and reads them in offset order.
func (pl *partitionLog) scan(visit func(partitionID, *kmsg.RecordBatch)) error {
	entries, err := os.ReadDir(pl.dir)
	if err != nil {
		return err
	}
	var bases []int64
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".dat"); ok {
			if b, err := strconv.ParseInt(name, 10, 64); err == nil {
				bases = append(bases, b)
			}
		}
	}
	slices.Sort(bases)
	for _, b := range bases {
		size, err := scanSegment(filepath.Join(pl.dir, strconv.FormatInt(b, 10)+".dat"),
			func(rb *kmsg.RecordBatch) { visit(pl.partitionID, rb) })
		if err != nil {
			return err
		}
		pl.segments = append(pl.segments, segmentFile{b, size})
	}
	return nil
}

// scanSegment reads one segment file as kfake's replay does: RecordBatch
// wire bytes back to back, each checked against its CRC-32C; the first
// truncated, malformed or corrupt batch ends the segment. It returns the
// file's size.
func scanSegment(path string, visit func(*kmsg.RecordBatch)) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	size := int64(len(raw))
	var rb kmsg.RecordBatch
	for len(raw) >= 12 { // FirstOffset int64, Length int32
		n := 12 + int64(binary.BigEndian.Uint32(raw[8:12]))
		if n > int64(len(raw)) || n < 21 {
			break
		}
		batch := raw[:n]
		raw = raw[n:]
		if binary.BigEndian.Uint32(batch[17:21]) != crc32.Checksum(batch[21:], castagnoli) {
			break
		}
		if err := rb.ReadFrom(batch); err != nil || rb.Magic != 2 {
			break
		}
		visit(&rb)
	}
	return size, nil
}
