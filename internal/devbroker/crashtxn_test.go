package devbroker

import (
	"encoding/binary"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// wireBatch is a RecordBatch of one empty record as kfake writes it to a
// segment, with its CRC.
func wireBatch(offset, pid int64, epoch int16, attrs int16) []byte {
	rb := kmsg.RecordBatch{
		FirstOffset: offset, Magic: 2, Attributes: attrs,
		ProducerID: pid, ProducerEpoch: epoch, NumRecords: 1,
		Records: []byte{0x10, 0, 0, 0, 0, 0, 0, 0},
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], castagnoli))
	return b
}

func TestScanSegment(t *testing.T) {
	const txn, ctl = attrTransactional, attrTransactional | attrControl
	corrupt := func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }
	for _, tt := range []struct {
		name    string
		batches [][]byte
		want    map[int64]int16
	}{
		{"committed", [][]byte{wireBatch(0, 7, 1, txn), wireBatch(1, 7, 1, ctl)}, map[int64]int16{}},
		{"open", [][]byte{wireBatch(0, 7, 1, txn), wireBatch(1, 8, 0, txn), wireBatch(2, 8, 0, ctl)}, map[int64]int16{7: 1}},
		{"reopened at a new epoch", [][]byte{wireBatch(0, 7, 1, txn), wireBatch(1, 7, 1, ctl), wireBatch(2, 7, 2, txn)}, map[int64]int16{7: 2}},
		{"not transactional", [][]byte{wireBatch(0, 7, 1, 0), wireBatch(1, -1, -1, 0)}, map[int64]int16{}},
		// kfake's replay truncates at the first corrupt batch: the marker
		// behind it is gone, so the transaction is open.
		{"marker corrupt", [][]byte{wireBatch(0, 7, 1, txn), corrupt(wireBatch(1, 7, 1, ctl))}, map[int64]int16{7: 1}},
		{"marker truncated", [][]byte{wireBatch(0, 7, 1, txn), wireBatch(1, 7, 1, ctl)[:30]}, map[int64]int16{7: 1}},
		{"data behind a corrupt batch", [][]byte{corrupt(wireBatch(0, 9, 0, 0)), wireBatch(1, 7, 1, txn)}, map[int64]int16{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var seg []byte
			for _, b := range tt.batches {
				seg = append(seg, b...)
			}
			path := filepath.Join(t.TempDir(), "0.dat")
			if err := os.WriteFile(path, seg, 0o644); err != nil {
				t.Fatal(err)
			}
			open, p := openTxns{}, partitionID{"out", 0}
			if _, err := scanSegment(path, func(rb *kmsg.RecordBatch) { open.add(p, rb) }); err != nil {
				t.Fatal(err)
			}
			got := open[p]
			if got == nil {
				got = map[int64]int16{}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("open transactions %v, want %v", got, tt.want)
			}
		})
	}
}
