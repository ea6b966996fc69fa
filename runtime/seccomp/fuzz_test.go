package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// verify checks a program the way the kernel's checker does for the
// instructions Compile emits: known opcodes, loads inside seccomp_data,
// every jump inside the program and forward, and no path running off the
// end (the last instruction returns).
func verify(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > BPF_MAXINSNS {
		return fmt.Errorf("%d instructions", len(prog))
	}
	for pc, in := range prog {
		switch in.Code {
		case opLdAbsW:
			if in.K%4 != 0 || in.K >= sizeofSeccompData {
				return fmt.Errorf("%d: load at %d", pc, in.K)
			}
		case opAndK, opRetK:
		case opJa:
			if uint64(pc)+1+uint64(in.K) >= uint64(len(prog)) {
				return fmt.Errorf("%d: ja %d out of the program", pc, in.K)
			}
		case opJeqK, opJgtK, opJgeK, opJsetK:
			if pc+1+int(max(in.Jt, in.Jf)) >= len(prog) {
				return fmt.Errorf("%d: jump out of the program", pc)
			}
		default:
			return fmt.Errorf("%d: opcode %#x", pc, in.Code)
		}
	}
	if prog[len(prog)-1].Code != opRetK {
		return fmt.Errorf("the last instruction does not return")
	}
	return nil
}

func TestProgramsVerify(t *testing.T) {
	for _, name := range []string{"docker.json", "small.json"} {
		f, err := Compile(loadProfile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(f.prog); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A profile too big for one classic BPF program is refused with a clear
// error, not truncated.
func TestCompileTooLarge(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for i := range 1000 {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: uint64(i) << 33}}})
	}
	_, err := Compile(s)
	if err == nil || !strings.Contains(err.Error(), "more than BPF_MAXINSNS (4096)") {
		t.Fatalf("Compile of 1000 ioctl rules = %v, want a BPF_MAXINSNS error", err)
	}
}

// Hostile or broken config.json: Compile returns an error or a program the
// kernel would accept, whose every path returns; it never panics.
func FuzzCompile(f *testing.F) {
	for _, name := range []string{"docker.json", "small.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint32(0), uint32(0), uint64(0))
	}
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_KILL","architectures":["SCMP_ARCH_AARCH64","SCMP_ARCH_PPC64"],"syscalls":[{"names":["openat"],"action":"SCMP_ACT_TRACE","errnoRet":7,"args":[{"index":2,"value":18446744073709551615,"op":"SCMP_CMP_GE"},{"index":2,"value":1,"op":"SCMP_CMP_NE"}]}]}`), uint32(56), uint32(unix.AUDIT_ARCH_AARCH64), uint64(1))
	f.Fuzz(func(t *testing.T, config []byte, nr, auditArch uint32, arg uint64) {
		var s specs.LinuxSeccomp
		if json.Unmarshal(config, &s) != nil {
			return
		}
		flt, err := Compile(&s)
		if err != nil {
			return
		}
		if err := verify(flt.prog); err != nil {
			t.Fatalf("invalid program: %v", err)
		}
		d := seccompData{Nr: int32(nr), Arch: auditArch, Args: [6]uint64{arg, arg, arg, arg, arg, arg}}
		run(t, flt.prog, d, binary.LittleEndian)
		_ = flt.String()
	})
}
