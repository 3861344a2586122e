package devbroker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// repairDataDir repairs, before kfake loads o.DataDir, what its last
// unclean stop left there: the idempotent producers' sequence windows
// (crashseq.go) and the transactions without an abort marker (crashtxn.go).
// One pass over the segments feeds both. The windows go first: the
// transaction repair loads the directory in a private kfake and stops it
// cleanly, which saves the windows that kfake loaded (so they must be
// repaired by then) and writes every partition's snapshot anew, after
// which a partition it wrote no marker to looks cleanly stopped.
func repairDataDir(o Options) error {
	txns, seqs := openTxns{}, seqWindows{}
	parts, err := scanLog(o.DataDir, func(p partitionID, rb *kmsg.RecordBatch) {
		txns.add(p, rb)
		seqs.add(p, rb)
	})
	if err != nil {
		return fmt.Errorf("read the segments in %s: %w", o.DataDir, err)
	}
	n, err := restoreSeqWindows(o.DataDir, parts, seqs)
	if err != nil {
		return fmt.Errorf("restore the idempotent producers' sequence windows the last unclean stop lost in %s: %w", o.DataDir, err)
	}
	if n > 0 && o.Logf != nil {
		o.Logf("restored %d idempotent producer sequence window(s) from the segments the last unclean stop left", n)
	}
	n, err = closeCrashedTxns(o, txns.list())
	if err != nil {
		return fmt.Errorf("abort the transactions an unclean stop left open in %s: %w", o.DataDir, err)
	}
	if n > 0 && o.Logf != nil {
		o.Logf("wrote abort markers for %d partition(s) of transactions the last unclean stop left open", n)
	}
	return nil
}
