//go:build !amd64 || purego

package xgboost

import "unsafe"

// prefetchValues is a hint only (see prefetch_amd64.go); without the
// assembly it does nothing.
func prefetchValues(base, vo unsafe.Pointer, n int) {}
