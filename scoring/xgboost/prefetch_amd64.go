//go:build amd64 && !purego

package xgboost

import "unsafe"

// prefetchValues asks for the cache lines of the float32 values at base +
// 4·vo[i], i < n (vo holds uint32 offsets), ahead of their reads
// (PREFETCHT0, see prefetch_amd64.s): a prefetch retires at once, so all
// of them are in flight together, where loads that the processor reaches
// only as it retires earlier work would not be.
//
//go:noescape
func prefetchValues(base, vo unsafe.Pointer, n int)
