package devbroker

import (
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Why this file exists (kfake at the pinned version):
//
// kfake keeps, for each idempotent producer and partition, the sequence
// window it detects retried batches with: the first sequence, next
// sequence and offset of the producer's last five batches, their epoch,
// and the next sequence it expects. It holds the windows in memory and
// writes them to seq_windows.json only when it stops cleanly. A broker that
// died (kill -9) starts without them, or with the file of an earlier clean
// stop. A producer that kept running then retries the batches whose
// answers the crash lost: with no window kfake takes the retry as the
// producer's first batch (any first sequence is accepted), with a stale one
// as the next batch it expects, and either way appends it a second time.
// Kafka rebuilds the producer state from the log at start and answers such
// a retry as a duplicate.
//
// restoreSeqWindows rebuilds the windows from the batch headers of the
// segments (seqWindows, fed by the scan in repair.go) for the partitions
// kfake will replay because they changed since its last clean stop, and
// writes them to seq_windows.json in kfake's format, in place of what the
// file held for those producers and partitions; everything else in the
// file is kept as kfake wrote it. kfake then loads the file as after a
// clean stop, for the producer ids it knows from pids.log (that log is
// appended to as producers get their ids, so it survives a kill -9).

// seqEntry is one batch in a window: its first sequence, the sequence
// after it, and its offset.
type seqEntry struct {
	firstSeq, nextSeq int32
	offset            int64
}

// seqWindow is a producer's window in a partition as kfake builds it: the
// last up to five batches of its latest epoch in a ring (at is the next
// slot), and the sequence expected next.
type seqWindow struct {
	epoch   int16
	entries [5]seqEntry
	at      uint8
	count   uint8
	nextSeq int32
}

// add appends a batch kfake accepted. A new epoch starts the window again,
// as kfake does. The sequence after a batch is kfake's: its first sequence
// plus its records, modulo math.MaxInt32. The records are counted from the
// last offset delta, which compaction keeps where it drops records.
func (w *seqWindow) add(rb *kmsg.RecordBatch) {
	if w.count == 0 || rb.ProducerEpoch != w.epoch {
		*w = seqWindow{epoch: rb.ProducerEpoch}
	}
	next := int32((int64(rb.FirstSequence) + int64(rb.LastOffsetDelta) + 1) % math.MaxInt32)
	w.entries[w.at] = seqEntry{rb.FirstSequence, next, rb.FirstOffset}
	w.at = (w.at + 1) % uint8(len(w.entries))
	w.count = min(w.count+1, uint8(len(w.entries)))
	w.nextSeq = next
}

// seqWindows follows, batch by batch in log order, the window of each
// producer in each partition.
type seqWindows map[partitionID]map[int64]*seqWindow

func (s seqWindows) add(p partitionID, rb *kmsg.RecordBatch) {
	if rb.ProducerID < 0 || rb.ProducerEpoch < 0 || rb.Attributes&attrControl != 0 {
		return // not idempotent, or a marker kfake wrote
	}
	if s[p] == nil {
		s[p] = map[int64]*seqWindow{}
	}
	w := s[p][rb.ProducerID]
	if w == nil {
		w = new(seqWindow)
		s[p][rb.ProducerID] = w
	}
	w.add(rb)
}

// kfake's file formats at the pinned version (persist.go: persistSeqWindows,
// persistSeqWindowEntry, persistPidEntry, persistPartSnapshot). The JSON
// names are the format.
type (
	seqWindowsFile struct {
		Version int               `json:"version"`
		Windows []json.RawMessage `json:"windows"` // kept verbatim unless replaced
	}
	seqWindowKey struct {
		PID       int64  `json:"pid"`
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
	}
	seqWindowJSON struct {
		seqWindowKey
		Entries [5]seqEntryJSON `json:"entries"`
		Count   uint8           `json:"count"`
		At      uint8           `json:"at"`
		Epoch   int16           `json:"epoch"`
		Seen    bool            `json:"seen"`
		NextSeq int32           `json:"next_seq"`
	}
	seqEntryJSON struct {
		FirstSeq int32 `json:"first_seq"`
		NextSeq  int32 `json:"next_seq"`
		Offset   int64 `json:"offset"`
	}
	partSnapshotJSON struct {
		Version  int `json:"version"`
		Segments []struct {
			BaseOffset int64 `json:"base_offset"`
			Size       int64 `json:"size"`
		} `json:"segments"`
	}
)

// kfakePersistVersion is the version kfake writes in its JSON files.
const kfakePersistVersion = 1

const seqWindowsName = "seq_windows.json"

// replayed reports whether kfake will load the partition by replaying its
// segments, as after an unclean stop: it does unless the partition's
// snapshot.json, written at its last clean stop, lists exactly its segment
// files with their sizes. A partition without segments has nothing to
// replay.
func replayed(pl partitionLog) bool {
	if len(pl.segments) == 0 {
		return false
	}
	raw, err := os.ReadFile(filepath.Join(pl.dir, "snapshot.json"))
	if err != nil {
		return true
	}
	var snap partSnapshotJSON
	if json.Unmarshal(raw, &snap) != nil || snap.Version > kfakePersistVersion || len(snap.Segments) != len(pl.segments) {
		return true
	}
	for i, s := range snap.Segments {
		if s.BaseOffset != pl.segments[i].base || s.Size != pl.segments[i].size {
			return true
		}
	}
	return false
}

// restoreSeqWindows writes the windows rebuilt from the segments of the
// partitions kfake will replay to seq_windows.json (see the top of the
// file), and returns how many it wrote. It leaves the file alone when no
// partition is replayed.
func restoreSeqWindows(dataDir string, parts []partitionLog, rebuilt seqWindows) (int, error) {
	var fresh []seqWindowJSON
	for _, pl := range parts {
		if len(rebuilt[pl.partitionID]) == 0 || !replayed(pl) {
			continue
		}
		for pid, w := range rebuilt[pl.partitionID] {
			fresh = append(fresh, w.json(seqWindowKey{pid, pl.topic, pl.part}))
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	slices.SortFunc(fresh, func(a, b seqWindowJSON) int { return compareSeqKeys(a.seqWindowKey, b.seqWindowKey) })
	replaced := map[seqWindowKey]bool{}
	for _, w := range fresh {
		replaced[w.seqWindowKey] = true
	}

	path := filepath.Join(dataDir, seqWindowsName)
	file := seqWindowsFile{Version: kfakePersistVersion}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &file); err != nil {
			return 0, err // kfake would refuse to start on it too
		}
	case !errors.Is(err, os.ErrNotExist):
		return 0, err
	}
	kept := file.Windows[:0]
	for _, w := range file.Windows {
		var k seqWindowKey
		if err := json.Unmarshal(w, &k); err != nil {
			return 0, err
		}
		if !replaced[k] {
			kept = append(kept, w)
		}
	}
	file.Windows = kept
	for _, w := range fresh {
		b, err := json.Marshal(w)
		if err != nil {
			return 0, err
		}
		file.Windows = append(file.Windows, b)
	}
	out, err := json.Marshal(file)
	if err != nil {
		return 0, err
	}
	return len(fresh), writeFileAtomic(path, out)
}

func (w *seqWindow) json(k seqWindowKey) seqWindowJSON {
	j := seqWindowJSON{seqWindowKey: k, Count: w.count, At: w.at, Epoch: w.epoch, Seen: true, NextSeq: w.nextSeq}
	for i, e := range w.entries[:w.count] {
		j.Entries[i] = seqEntryJSON{e.firstSeq, e.nextSeq, e.offset}
	}
	return j
}

func compareSeqKeys(a, b seqWindowKey) int {
	return cmp.Or(comparePartitions(partitionID{a.Topic, a.Partition}, partitionID{b.Topic, b.Partition}), cmp.Compare(a.PID, b.PID))
}

// writeFileAtomic replaces path with data: a crash leaves the old file or
// the new one, and at worst a *.tmp file beside it, which kfake removes
// when it loads the directory.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // gone after the rename; removed on failure
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
