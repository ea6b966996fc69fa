package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The assembler: the compiler emits instructions whose jumps name labels;
// assemble lays them out and turns labels into offsets.
//
// Classic BPF jumps only forward, and a conditional jump's jt/jf are 8 bits:
// a target more than 255 instructions away is out of reach. Such a branch
// is relaxed into a trampoline: the conditional jump lands on an
// unconditional "ja" placed right after it, whose offset is 32 bits.
// Inserting a trampoline moves later code and may push other branches out
// of reach, so layout repeats until nothing changes; branches only ever
// grow, so this ends.

// label names a position in the program; next is the following instruction.
type label int

const next label = -1

type pinsn struct {
	code    uint16
	k       uint32
	jt, jf  label // conditional jumps
	to      label // ja
	comment string
}

type asm struct {
	insns  []pinsn
	labels []int // label → index into insns of the instruction it precedes
}

func (a *asm) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// bind places l before the next emitted instruction.
func (a *asm) bind(l label) { a.labels[l] = len(a.insns) }

func (a *asm) emit(code uint16, k uint32, comment string) {
	a.insns = append(a.insns, pinsn{code: code, k: k, jt: next, jf: next, to: next, comment: comment})
}

func (a *asm) jump(code uint16, k uint32, jt, jf label, comment string) {
	a.insns = append(a.insns, pinsn{code: code, k: k, jt: jt, jf: jf, to: next, comment: comment})
}

func (a *asm) ja(to label, comment string) {
	a.insns = append(a.insns, pinsn{code: opJa, jt: next, jf: next, to: to, comment: comment})
}

func (a *asm) ret(k uint32, comment string) { a.emit(opRetK, k, comment) }

func isCond(code uint16) bool {
	return code&0x07 == unix.BPF_JMP && code&0xf0 != unix.BPF_JA
}

// assemble resolves labels and returns the program and a comment per
// instruction.
func (a *asm) assemble() ([]unix.SockFilter, []string, error) {
	n := len(a.insns)
	longT := make([]bool, n)
	longF := make([]bool, n)
	pos := make([]int, n+1) // pos[i]: where insns[i] starts; pos[n]: the end
	target := func(l label, i int) int {
		if l == next {
			return pos[i+1]
		}
		return pos[a.labels[l]]
	}
	for {
		p := 0
		for i := range a.insns {
			pos[i] = p
			p++
			if longT[i] {
				p++
			}
			if longF[i] {
				p++
			}
		}
		pos[n] = p
		changed := false
		for i, in := range a.insns {
			if !isCond(in.code) {
				continue
			}
			// A short branch's offset counts from the instruction
			// after the jump (a trampoline of the other branch, if
			// any, is jumped over too).
			base := pos[i] + 1
			if !longT[i] && target(in.jt, i)-base > 255 {
				longT[i], changed = true, true
			}
			if !longF[i] && target(in.jf, i)-base > 255 {
				longF[i], changed = true, true
			}
		}
		if !changed {
			break
		}
	}
	if pos[n] > BPF_MAXINSNS {
		return nil, nil, fmt.Errorf("program has %d instructions, more than BPF_MAXINSNS (%d)", pos[n], BPF_MAXINSNS)
	}

	prog := make([]unix.SockFilter, 0, pos[n])
	comments := make([]string, 0, pos[n])
	for i, in := range a.insns {
		switch {
		case isCond(in.code):
			t, f := target(in.jt, i), target(in.jf, i)
			base := pos[i] + 1
			var tramp []label
			jt, jf := t-base, f-base
			switch {
			case longT[i] && longF[i]:
				jt, jf = 0, 1
				tramp = []label{in.jt, in.jf}
			case longT[i]:
				jt = 0
				tramp = []label{in.jt}
			case longF[i]:
				jf = 0
				tramp = []label{in.jf}
			}
			if jt < 0 || jf < 0 || jt > 255 || jf > 255 {
				return nil, nil, fmt.Errorf("internal error: instruction %d: jump offsets %d, %d", i, jt, jf)
			}
			prog = append(prog, unix.SockFilter{Code: in.code, K: in.k, Jt: uint8(jt), Jf: uint8(jf)})
			comments = append(comments, in.comment)
			for _, l := range tramp {
				at := len(prog)
				off := target(l, i) - (at + 1)
				prog = append(prog, unix.SockFilter{Code: opJa, K: uint32(off)})
				comments = append(comments, "long jump")
			}
		case in.code == opJa:
			at := len(prog)
			off := target(in.to, i) - (at + 1)
			if off < 0 {
				return nil, nil, fmt.Errorf("internal error: instruction %d jumps backwards", i)
			}
			prog = append(prog, unix.SockFilter{Code: opJa, K: uint32(off)})
			comments = append(comments, in.comment)
		default:
			prog = append(prog, unix.SockFilter{Code: in.code, K: in.k})
			comments = append(comments, in.comment)
		}
	}
	return prog, comments, nil
}
