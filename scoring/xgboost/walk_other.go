//go:build !amd64 || purego

package xgboost

import "unsafe"

func walkTree(nb, xb unsafe.Pointer, d, groups int, leaves, acc unsafe.Pointer, stride uintptr) {
	walkTreeGo(nb, xb, d, groups, leaves, acc, stride)
}
