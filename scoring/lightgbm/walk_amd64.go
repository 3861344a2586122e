//go:build amd64 && !purego

package lightgbm

import "unsafe"

// walkTree is walkTreeGo in assembly: see walk_amd64.s.
//
//go:noescape
func walkTree(kb, sb, xb unsafe.Pointer, gb uintptr, d, groups int, leaves, acc unsafe.Pointer, stride uintptr)

// walkSparse is walkSparseGo in assembly: see walk_amd64.s.
//
//go:noescape
func walkSparse(kb, sb, nb, xb unsafe.Pointer, gb uintptr, d, groups int, leaves, acc unsafe.Pointer, stride uintptr)
