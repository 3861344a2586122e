//go:build amd64 && !purego

#include "textflag.h"

// Eight-row walks through one complete tree, in registers. Nodes are 8
// bytes {split uint32 = key(split)-1, slot uint32} in 1-based heap order;
// row k's int64 keys start at rows + k*256 (rowStride 32). Per row and
// level i = 2*i + (x[slot] >= key(split) ? 1 : 0): comparing split (=
// key-1) with x as unsigned 64-bit values borrows exactly when x > key-1,
// and ADC adds that carry while doubling i. The same computation as
// walkTreeGo in complete.go.
//
// AX nodes, BX rows, CX levels left, R8..R15 the eight heap indices,
// DX and SI scratch (the CPU renames them between chains).

#define STEP(I, OFF) \
	MOVL 4(AX)(I*8), SI \
	MOVL (AX)(I*8), DX \
	CMPQ DX, OFF(BX)(SI*8) \
	ADCQ I, I

#define WALK \
	MOVQ $1, R8 \
	MOVQ $1, R9 \
	MOVQ $1, R10 \
	MOVQ $1, R11 \
	MOVQ $1, R12 \
	MOVQ $1, R13 \
	MOVQ $1, R14 \
	MOVQ $1, R15

// Add the leaf of chain I to the float32 at SI, then step SI to the next
// row's accumulator (CX bytes on). DX = leaves - 4*2^depth.
#define ACC(I) \
	MOVSS (DX)(I*4), X0 \
	ADDSS (SI), X0 \
	MOVSS X0, (SI) \
	ADDQ CX, SI

// func walkTree(nb, xb unsafe.Pointer, d, groups int, leaves unsafe.Pointer, acc unsafe.Pointer, stride uintptr)
//
// For each of groups groups of eight rows (rows advance by 8*256 bytes):
// walk the tree, then add each row's leaf to its accumulator (rows'
// accumulators are stride bytes apart, starting at acc). groups >= 1.
TEXT ·walkTree(SB), NOSPLIT, $0-56
	MOVQ nb+0(FP), AX
	MOVQ xb+8(FP), BX
group:
	MOVQ d+16(FP), CX
	WALK
	TESTQ CX, CX
	JLE leaves
levels:
	STEP(R8, 0)
	STEP(R9, 256)
	STEP(R10, 512)
	STEP(R11, 768)
	STEP(R12, 1024)
	STEP(R13, 1280)
	STEP(R14, 1536)
	STEP(R15, 1792)
	DECQ CX
	JNZ levels
leaves:
	MOVQ d+16(FP), CX
	MOVQ $4, SI
	SHLQ CX, SI
	MOVQ leaves+32(FP), DX
	SUBQ SI, DX
	MOVQ acc+40(FP), SI
	MOVQ stride+48(FP), CX
	ACC(R8)
	ACC(R9)
	ACC(R10)
	ACC(R11)
	ACC(R12)
	ACC(R13)
	ACC(R14)
	ACC(R15)
	MOVQ SI, acc+40(FP)
	ADDQ $2048, BX
	DECQ groups+24(FP)
	JNZ group
	RET
