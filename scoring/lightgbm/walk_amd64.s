//go:build amd64 && !purego

#include "textflag.h"

// Eight-row walks through one complete tree, in registers: the same
// computation as walkTreeGo in complete.go. Split i (1-based heap order)
// has its threshold key at keys[i] (uint64) and 8·slot at slots[i]
// (uint32); a group of eight expanded rows holds, for each slot, the
// eight rows' uint64 keys side by side, so row k's key of a slot is at
// group + 8·(8·slot) + 8k. Per row and level i = 2*i + (x[slot] > key ?
// 1 : 0): CMPQ key, x borrows exactly when x > key (unsigned), and ADCQ
// adds that carry while doubling i.
//
// AX keys, DI slots, BX the group, CX levels left, R8..R15 the eight heap
// indices, DX and SI scratch.

#define STEP(I, OFF) \
	MOVL (DI)(I*4), SI \
	MOVQ (AX)(I*8), DX \
	CMPQ DX, OFF(BX)(SI*8) \
	ADCQ I, I

// Add the leaf of chain I to the float64 at SI, then step SI to the next
// row's accumulator (CX bytes on). DX = leaves - 8*2^depth.
#define ACC(I) \
	MOVSD (DX)(I*8), X0 \
	ADDSD (SI), X0 \
	MOVSD X0, (SI) \
	ADDQ CX, SI

// func walkTree(kb, sb, xb unsafe.Pointer, gb uintptr, d, groups int, leaves, acc unsafe.Pointer, stride uintptr)
//
// For each of groups groups of eight rows (groups gb bytes apart): walk
// the tree, then add each row's leaf to its accumulator (rows'
// accumulators are stride bytes apart, starting at acc). groups >= 1.
TEXT ·walkTree(SB), NOSPLIT, $0-72
	MOVQ kb+0(FP), AX
	MOVQ sb+8(FP), DI
	MOVQ xb+16(FP), BX
group:
	MOVQ $1, R8
	MOVQ $1, R9
	MOVQ $1, R10
	MOVQ $1, R11
	MOVQ $1, R12
	MOVQ $1, R13
	MOVQ $1, R14
	MOVQ $1, R15
	MOVQ d+32(FP), CX
	TESTQ CX, CX
	JLE leaves
levels:
	STEP(R8, 0)
	STEP(R9, 8)
	STEP(R10, 16)
	STEP(R11, 24)
	STEP(R12, 32)
	STEP(R13, 40)
	STEP(R14, 48)
	STEP(R15, 56)
	DECQ CX
	JNZ levels
leaves:
	MOVQ d+32(FP), CX
	MOVQ $8, SI
	SHLQ CX, SI
	MOVQ leaves+48(FP), DX
	SUBQ SI, DX
	MOVQ acc+56(FP), SI
	MOVQ stride+64(FP), CX
	ACC(R8)
	ACC(R9)
	ACC(R10)
	ACC(R11)
	ACC(R12)
	ACC(R13)
	ACC(R14)
	ACC(R15)
	MOVQ SI, acc+56(FP)
	ADDQ gb+24(FP), BX
	DECQ groups+40(FP)
	JNZ group
	RET

// A sparse tree step: i = next[2*i + (x[slot] > key ? 1 : 0)]. CX holds
// next; the level count lives in the frame.
#define SSTEP(I, OFF) \
	MOVL (DI)(I*4), SI \
	MOVQ (AX)(I*8), DX \
	CMPQ DX, OFF(BX)(SI*8) \
	ADCQ I, I \
	MOVL (CX)(I*4), I

// func walkSparse(kb, sb, nb, xb unsafe.Pointer, gb uintptr, d, groups int, leaves, acc unsafe.Pointer, stride uintptr)
//
// walkTree for sparse trees: chains start at node 0 and end on their
// leaf's node, whose value is leaves[node]. groups >= 1.
TEXT ·walkSparse(SB), NOSPLIT, $8-80
	MOVQ kb+0(FP), AX
	MOVQ sb+8(FP), DI
	MOVQ xb+24(FP), BX
sgroup:
	MOVQ nb+16(FP), CX
	XORQ R8, R8
	XORQ R9, R9
	XORQ R10, R10
	XORQ R11, R11
	XORQ R12, R12
	XORQ R13, R13
	XORQ R14, R14
	XORQ R15, R15
	MOVQ d+40(FP), DX
	MOVQ DX, n-8(SP)
	TESTQ DX, DX
	JLE sleaves
slevels:
	SSTEP(R8, 0)
	SSTEP(R9, 8)
	SSTEP(R10, 16)
	SSTEP(R11, 24)
	SSTEP(R12, 32)
	SSTEP(R13, 40)
	SSTEP(R14, 48)
	SSTEP(R15, 56)
	DECQ n-8(SP)
	JNZ slevels
sleaves:
	MOVQ leaves+56(FP), DX
	MOVQ acc+64(FP), SI
	MOVQ stride+72(FP), CX
	ACC(R8)
	ACC(R9)
	ACC(R10)
	ACC(R11)
	ACC(R12)
	ACC(R13)
	ACC(R14)
	ACC(R15)
	MOVQ SI, acc+64(FP)
	ADDQ gb+32(FP), BX
	DECQ groups+48(FP)
	JNZ sgroup
	RET
