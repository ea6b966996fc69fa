#include "textflag.h"

// func native(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
//
// CPUID takes the leaf in EAX and the subleaf in ECX and overwrites EAX,
// EBX, ECX and EDX with what the processor (or the hypervisor trapping the
// instruction) reports for that leaf.
TEXT ·native(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET
