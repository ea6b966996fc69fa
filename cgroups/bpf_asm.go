package cgroups

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// A tiny eBPF assembler: just the instructions a device filter needs.
// The encoding is struct bpf_insn from include/uapi/linux/bpf.h:
//
//	struct bpf_insn {
//		__u8	code;		/* opcode: class | size/op | mode/source */
//		__u8	dst_reg:4;	/* dest register */
//		__u8	src_reg:4;	/* source register */
//		__s16	off;		/* signed offset */
//		__s32	imm;		/* signed immediate constant */
//	};
//
// The opcode constants (BPF_LDX, BPF_MEM, BPF_W, BPF_ALU, BPF_AND, ...) are
// x/sys/unix's copies of uapi/linux/bpf.h and bpf_common.h.

// Reg is an eBPF register. R0 holds the return value, R1 the program's
// context pointer on entry.
type Reg uint8

const (
	R0 Reg = iota
	R1
	R2
	R3
	R4
	R5
)

// Insn is one eBPF instruction.
type Insn struct {
	Code     uint8
	Dst, Src Reg
	Off      int16
	Imm      int32

	comment string
}

const insnSize = 8 // sizeof(struct bpf_insn)

func ldxw(dst, src Reg, off int16) Insn {
	return Insn{Code: unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W, Dst: dst, Src: src, Off: off}
}
func and32(dst Reg, imm int32) Insn {
	return Insn{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, Dst: dst, Imm: imm}
}
func rsh32(dst Reg, imm int32) Insn {
	return Insn{Code: unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K, Dst: dst, Imm: imm}
}
func mov32(dst Reg, imm int32) Insn {
	return Insn{Code: unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K, Dst: dst, Imm: imm}
}
func mov32reg(dst, src Reg) Insn {
	return Insn{Code: unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X, Dst: dst, Src: src}
}
func jneImm(dst Reg, imm int32) Insn {
	return Insn{Code: unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K, Dst: dst, Imm: imm}
}
func jeqImm(dst Reg, imm int32) Insn {
	return Insn{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Dst: dst, Imm: imm}
}
func ja() Insn   { return Insn{Code: unix.BPF_JMP | unix.BPF_JA} }
func exit() Insn { return Insn{Code: unix.BPF_JMP | unix.BPF_EXIT} }

// asm collects instructions and resolves jumps to labels.
type asm struct {
	insns  []Insn
	fixups map[int]string // instruction index → label it jumps to
	labels map[string]int // label → index of the instruction it names
}

func (a *asm) emit(i Insn, comment string) {
	i.comment = comment
	a.insns = append(a.insns, i)
}

// jump emits a jump whose offset is filled in once label is placed.
func (a *asm) jump(i Insn, label string, comment ...string) {
	if a.fixups == nil {
		a.fixups = map[int]string{}
	}
	a.fixups[len(a.insns)] = label
	a.emit(i, strings.Join(comment, ""))
}

// label names the next instruction.
func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.insns)
}

// assemble resolves the jumps: an eBPF jump offset counts instructions
// from the one after the jump.
func (a *asm) assemble() []Insn {
	out := append([]Insn(nil), a.insns...)
	for at, label := range a.fixups {
		to, ok := a.labels[label]
		if !ok {
			panic("bpf assembler: undefined label " + label) // a bug in the compiler, not in input
		}
		out[at].Off = int16(to - at - 1)
	}
	return out
}

// encodeInsns lays the program out as the kernel reads it (little-endian
// on the machines hull supports; eBPF uses the host's byte order).
func encodeInsns(insns []Insn) []byte {
	b := make([]byte, 0, len(insns)*insnSize)
	for _, i := range insns {
		b = append(b, i.Code, byte(i.Dst)&0x0f|byte(i.Src)<<4)
		b = binary.NativeEndian.AppendUint16(b, uint16(i.Off))
		b = binary.NativeEndian.AppendUint32(b, uint32(i.Imm))
	}
	return b
}

// Disassemble prints a program in the kernel verifier's notation.
func Disassemble(insns []Insn) string {
	var b strings.Builder
	for n, i := range insns {
		var s string
		switch i.Code {
		case unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W:
			s = fmt.Sprintf("r%d = *(u32 *)(r%d %+d)", i.Dst, i.Src, i.Off)
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			s = fmt.Sprintf("w%d &= %#x", i.Dst, uint32(i.Imm))
		case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			s = fmt.Sprintf("w%d >>= %d", i.Dst, i.Imm)
		case unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K:
			s = fmt.Sprintf("w%d = %d", i.Dst, i.Imm)
		case unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X:
			s = fmt.Sprintf("w%d = w%d", i.Dst, i.Src)
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K:
			s = fmt.Sprintf("if r%d != %d goto %d", i.Dst, i.Imm, n+1+int(i.Off))
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			s = fmt.Sprintf("if r%d == %d goto %d", i.Dst, i.Imm, n+1+int(i.Off))
		case unix.BPF_JMP | unix.BPF_JA:
			s = fmt.Sprintf("goto %d", n+1+int(i.Off))
		case unix.BPF_JMP | unix.BPF_EXIT:
			s = "exit"
		default:
			s = fmt.Sprintf("code=%#02x dst=r%d src=r%d off=%d imm=%d", i.Code, i.Dst, i.Src, i.Off, i.Imm)
		}
		if i.comment != "" {
			fmt.Fprintf(&b, "%4d: %-28s ; %s\n", n, s, i.comment)
		} else {
			fmt.Fprintf(&b, "%4d: %s\n", n, s)
		}
	}
	return b.String()
}
