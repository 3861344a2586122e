package devbroker

import "fmt"

// repairDataDir repairs, before kfake loads o.DataDir, what its last
// unclean stop left there: the transactions without an abort marker
// (crashtxn.go), found in one pass over the segments.
func repairDataDir(o Options) error {
	txns := openTxns{}
	_, err := scanLog(o.DataDir, txns.add)
	if err != nil {
		return fmt.Errorf("read the segments in %s: %w", o.DataDir, err)
	}
	n, err := closeCrashedTxns(o, txns.list())
	if err != nil {
		return fmt.Errorf("abort the transactions an unclean stop left open in %s: %w", o.DataDir, err)
	}
	if n > 0 && o.Logf != nil {
		o.Logf("wrote abort markers for %d partition(s) of transactions the last unclean stop left open", n)
	}
	return nil
}
