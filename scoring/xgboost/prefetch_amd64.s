//go:build amd64 && !purego

#include "textflag.h"

// func prefetchValues(base, vo unsafe.Pointer, n int)
// AX base, BX vo, CX n, SI the offset.
TEXT ·prefetchValues(SB), NOSPLIT, $0-24
	MOVQ base+0(FP), AX
	MOVQ vo+8(FP), BX
	MOVQ n+16(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	MOVL (BX), SI
	PREFETCHT0 (AX)(SI*4)
	ADDQ $4, BX
	DECQ CX
	JNZ loop
done:
	RET
