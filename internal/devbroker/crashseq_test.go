package devbroker

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// header is the batch header a segment holds for b at offset.
func (b seqBatch) header(t *testing.T, offset int64) *kmsg.RecordBatch {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b.wireAt(offset)); err != nil {
		t.Fatal(err)
	}
	return &rb
}

// wireAt is b's wire bytes as kfake writes them at offset (the offset is not
// covered by the CRC).
func (b seqBatch) wireAt(offset int64) []byte {
	w := b.wire()
	binary.BigEndian.PutUint64(w[0:8], uint64(offset))
	return w
}

func TestSeqWindowAdd(t *testing.T) {
	var w seqWindow
	for i := range int32(7) { // batches of two records: seqs 0, 2, ..., 12 at offsets 0, 2, ...
		w.add(seqBatch{0, 7, 3, 2 * i, 2}.header(t, int64(2*i)))
	}
	want := seqWindow{epoch: 3, at: 2, count: 5, nextSeq: 14, entries: [5]seqEntry{
		{10, 12, 10}, {12, 14, 12}, {4, 6, 4}, {6, 8, 6}, {8, 10, 8},
	}}
	if w != want {
		t.Errorf("after seven batches: %+v, want %+v", w, want)
	}

	w.add(seqBatch{0, 7, 4, 0, 1}.header(t, 20)) // a new epoch starts again
	if want := (seqWindow{epoch: 4, at: 1, count: 1, nextSeq: 1, entries: [5]seqEntry{{0, 1, 20}}}); w != want {
		t.Errorf("after a new epoch: %+v, want %+v", w, want)
	}

	// kfake's next sequence wraps modulo math.MaxInt32.
	w.add(seqBatch{0, 7, 4, math.MaxInt32 - 2, 2}.header(t, 21))
	if w.nextSeq != 0 {
		t.Errorf("next sequence after %d and two records: %d, want 0", math.MaxInt32-2, w.nextSeq)
	}
}

func TestSeqWindowsSkipMarkersAndPlainBatches(t *testing.T) {
	s, p := seqWindows{}, partitionID{"out", 0}
	s.add(p, seqBatch{0, 7, 1, 0, 2}.header(t, 0))
	marker := seqBatch{0, 7, 1, -1, 1}.header(t, 2)
	marker.Attributes = attrTransactional | attrControl
	s.add(p, marker)
	s.add(p, seqBatch{0, -1, -1, -1, 1}.header(t, 3))
	if len(s[p]) != 1 || s[p][7].count != 1 || s[p][7].nextSeq != 2 {
		t.Errorf("windows %v, want producer 7's batch only", s[p])
	}
}

// seqDir is a data directory with partitions out-0 and out-1, each holding
// producer 7's batches of seqs [0, 3) and [3, 5) at offsets 0 and 3; the
// snapshots of the partitions in clean match their segments.
func seqDir(t *testing.T, clean ...int32) (string, []partitionLog, seqWindows) {
	t.Helper()
	dir := t.TempDir()
	for part := int32(0); part < 2; part++ {
		pdir := filepath.Join(dir, "partitions", "out-"+strconv.Itoa(int(part)))
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			t.Fatal(err)
		}
		seg := append(seqBatch{part, 7, 0, 0, 3}.wireAt(0), seqBatch{part, 7, 0, 3, 2}.wireAt(3)...)
		if err := os.WriteFile(filepath.Join(pdir, "0.dat"), seg, 0o644); err != nil {
			t.Fatal(err)
		}
		size := len(seg)
		for _, c := range clean {
			if c != part {
				continue
			}
			snap := `{"version":1,"high_watermark":5,"segments":[{"base_offset":0,"size":` + strconv.Itoa(size) + `}]}`
			if err := os.WriteFile(filepath.Join(pdir, "snapshot.json"), []byte(snap), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	seqs := seqWindows{}
	parts, err := scanLog(dir, seqs.add)
	if err != nil {
		t.Fatal(err)
	}
	return dir, parts, seqs
}

// windowsIn reads seq_windows.json's windows keyed by producer and
// partition, as raw JSON.
func windowsIn(t *testing.T, dir string) map[seqWindowKey]json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, seqWindowsName))
	if err != nil {
		t.Fatal(err)
	}
	var f seqWindowsFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if f.Version != kfakePersistVersion {
		t.Errorf("version %d", f.Version)
	}
	out := map[seqWindowKey]json.RawMessage{}
	for _, w := range f.Windows {
		var k seqWindowKey
		if err := json.Unmarshal(w, &k); err != nil {
			t.Fatal(err)
		}
		out[k] = w
	}
	return out
}

func TestRestoreSeqWindows(t *testing.T) {
	// A file from a clean stop after the first batch of each partition
	// (kfake's field names; an unknown field shows what is kept verbatim),
	// and a producer 9 without batches in the segments.
	old := map[seqWindowKey]string{
		{7, "out", 0}: `{"pid":7,"topic":"out","partition":0,"entries":[{"first_seq":0,"next_seq":3,"offset":0},{"first_seq":0,"next_seq":0,"offset":0},{"first_seq":0,"next_seq":0,"offset":0},{"first_seq":0,"next_seq":0,"offset":0},{"first_seq":0,"next_seq":0,"offset":0}],"count":1,"at":1,"epoch":0,"seen":true,"next_seq":3,"x":1}`,
		{7, "out", 1}: `{"pid":7,"topic":"out","partition":1,"entries":[{"first_seq":0,"next_seq":3,"offset":0},{"first_seq":0,"next_seq":0,"offset":0},{"first_seq":0,"next_seq":0,"offset":0},{"first_seq":0,"next_seq":0,"offset":0},{"first_seq":0,"next_seq":0,"offset":0}],"count":1,"at":1,"epoch":0,"seen":true,"next_seq":3,"x":1}`,
		{9, "out", 1}: `{"pid":9,"topic":"out","partition":1,"count":1,"at":1,"epoch":2,"seen":true,"next_seq":8,"x":1}`,
	}
	writeOld := func(t *testing.T, dir string) {
		f := []byte(`{"version":1,"windows":[` + old[seqWindowKey{7, "out", 0}] + `,` + old[seqWindowKey{7, "out", 1}] + `,` + old[seqWindowKey{9, "out", 1}] + `]}`)
		if err := os.WriteFile(filepath.Join(dir, seqWindowsName), f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rebuilt := `{"pid":7,"topic":"out","partition":1,"entries":[{"first_seq":0,"next_seq":3,"offset":0},{"first_seq":3,"next_seq":5,"offset":3},{"first_seq":0,"next_seq":0,"offset":0},{"first_seq":0,"next_seq":0,"offset":0},{"first_seq":0,"next_seq":0,"offset":0}],"count":2,"at":2,"epoch":0,"seen":true,"next_seq":5}`

	t.Run("stale file", func(t *testing.T) {
		dir, parts, seqs := seqDir(t, 0) // out-0 unchanged since the clean stop, out-1 not
		writeOld(t, dir)
		n, err := restoreSeqWindows(dir, parts, seqs)
		if err != nil || n != 1 {
			t.Fatalf("restored %d, %v; want 1", n, err)
		}
		got := windowsIn(t, dir)
		for _, k := range []seqWindowKey{{7, "out", 0}, {9, "out", 1}} {
			if string(got[k]) != old[k] {
				t.Errorf("%+v: %s, want it kept as %s", k, got[k], old[k])
			}
		}
		if k := (seqWindowKey{7, "out", 1}); string(got[k]) != rebuilt {
			t.Errorf("%+v: %s, want %s", k, got[k], rebuilt)
		}
		if len(got) != 3 {
			t.Errorf("%d windows, want 3", len(got))
		}
	})

	t.Run("clean stop", func(t *testing.T) {
		dir, parts, seqs := seqDir(t, 0, 1)
		writeOld(t, dir)
		before, _ := os.ReadFile(filepath.Join(dir, seqWindowsName))
		if n, err := restoreSeqWindows(dir, parts, seqs); err != nil || n != 0 {
			t.Fatalf("restored %d, %v; want 0", n, err)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, seqWindowsName)); !bytes.Equal(before, after) {
			t.Errorf("the file of a clean stop was rewritten: %s", after)
		}
	})

	t.Run("no file", func(t *testing.T) {
		dir, parts, seqs := seqDir(t)
		if n, err := restoreSeqWindows(dir, parts, seqs); err != nil || n != 2 {
			t.Fatalf("restored %d, %v; want 2", n, err)
		}
		if k, got := (seqWindowKey{7, "out", 1}), windowsIn(t, dir); len(got) != 2 || string(got[k]) != rebuilt {
			t.Errorf("windows %v, want out-0's and %s", got, rebuilt)
		}
	})
}
