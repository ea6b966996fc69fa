package cgroups

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// runFilter interprets a device filter program over a bpf_cgroup_dev_ctx.
// It knows only the instructions the compiler emits; the tests use it to
// hold every compiled program to evalDeviceRules, on machines where the
// kernel's own run needs a cgroup2 mount.
func runFilter(insns []Insn, accessType, major, minor uint32) (uint32, error) {
	ctx := [3]uint32{accessType, major, minor}
	var r [11]uint64
	for pc, steps := 0, 0; pc < len(insns); pc, steps = pc+1, steps+1 {
		i := insns[pc]
		switch i.Code {
		case unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W:
			if i.Src != R1 || i.Off%4 != 0 || i.Off < 0 || i.Off > 8 {
				return 0, fmt.Errorf("insn %d: load outside the context", pc)
			}
			r[i.Dst] = uint64(ctx[i.Off/4])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			r[i.Dst] = uint64(uint32(r[i.Dst]) & uint32(i.Imm))
		case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			r[i.Dst] = uint64(uint32(r[i.Dst]) >> uint32(i.Imm))
		case unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K:
			r[i.Dst] = uint64(uint32(i.Imm))
		case unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X:
			r[i.Dst] = uint64(uint32(r[i.Src]))
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K:
			if r[i.Dst] != uint64(int64(i.Imm)) {
				pc += int(i.Off)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if r[i.Dst] == uint64(int64(i.Imm)) {
				pc += int(i.Off)
			}
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(i.Off)
		case unix.BPF_JMP | unix.BPF_EXIT:
			return uint32(r[R0]), nil
		default:
			return 0, fmt.Errorf("insn %d: unknown opcode %#x", pc, i.Code)
		}
		if i.Off < 0 {
			return 0, fmt.Errorf("insn %d: backward jump", pc)
		}
	}
	return 0, fmt.Errorf("fell off the end of the program")
}
