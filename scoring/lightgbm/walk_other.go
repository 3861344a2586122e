//go:build !amd64 || purego

package lightgbm

import "unsafe"

func walkTree(kb, sb, xb unsafe.Pointer, gb uintptr, d, groups int, leaves, acc unsafe.Pointer, stride uintptr) {
	walkTreeGo(kb, sb, xb, gb, d, groups, leaves, acc, stride)
}

func walkSparse(kb, sb, nb, xb unsafe.Pointer, gb uintptr, d, groups int, leaves, acc unsafe.Pointer, stride uintptr) {
	walkSparseGo(kb, sb, nb, xb, gb, d, groups, leaves, acc, stride)
}
