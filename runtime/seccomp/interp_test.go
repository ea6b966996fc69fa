package seccomp

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// run interprets a program the way the kernel does, on a seccomp_data laid
// out in the byte order of the architecture that made the call. It is an
// independent model used to check every branch of a compiled program
// without loading it; the tests in kernel_test.go check the real thing.
func run(t *testing.T, prog []unix.SockFilter, d seccompData, order binary.ByteOrder) uint32 {
	t.Helper()
	var buf [sizeofSeccompData]byte
	order.PutUint32(buf[0:], uint32(d.Nr))
	order.PutUint32(buf[4:], d.Arch)
	order.PutUint64(buf[8:], d.InstructionPointer)
	for i, a := range d.Args {
		order.PutUint64(buf[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case opLdAbsW:
			if in.K%4 != 0 || in.K+4 > sizeofSeccompData {
				t.Fatalf("pc %d: load at %d", pc, in.K)
			}
			acc = order.Uint32(buf[in.K:])
		case opAndK:
			acc &= in.K
		case opJa:
			pc += int(in.K)
		case opJeqK, opJgtK, opJgeK, opJsetK:
			var c bool
			switch in.Code {
			case opJeqK:
				c = acc == in.K
			case opJgtK:
				c = acc > in.K
			case opJgeK:
				c = acc >= in.K
			case opJsetK:
				c = acc&in.K != 0
			}
			if c {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case opRetK:
			return in.K
		default:
			t.Fatalf("pc %d: unexpected opcode %#x", pc, in.Code)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

func orderOf(a *arch) binary.ByteOrder {
	if a.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// eval is the meaning of an OCI argument condition on a 64-bit value.
func eval(op specs.LinuxSeccompOperator, arg, v, v2 uint64) bool {
	switch op {
	case specs.OpEqualTo:
		return arg == v
	case specs.OpNotEqual:
		return arg != v
	case specs.OpLessThan:
		return arg < v
	case specs.OpLessEqual:
		return arg <= v
	case specs.OpGreaterThan:
		return arg > v
	case specs.OpGreaterEqual:
		return arg >= v
	case specs.OpMaskedEqual:
		return arg&v == v2
	}
	panic(op)
}

// Every operator on values around the 32-bit split, on a little-endian and
// a big-endian architecture (where the low word comes second).
func TestConditions64Bit(t *testing.T) {
	values := []uint64{0, 1, 7, 8, 9, 0xffffffff, 0x100000000, 0x100000007, 0x100000008, 0x100000009,
		0x1ffffffff, 0xffffffff00000000, 0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10 {
		values = append(values, r.Uint64(), r.Uint64()&0xffffffff, r.Uint64()&^0xffffffff)
	}
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	const matched = unix.SECCOMP_RET_ERRNO | uint32(unix.EXDEV)
	for _, archName := range []specs.Arch{NativeArch(), specs.ArchPPC64, specs.ArchAARCH64} {
		a := lookupArch(archName)
		nr, _ := a.lookup("getpriority")
		for _, op := range ops {
			for i, v := range values {
				// MASKED_EQ's datum: inside the mask, or (every other
				// value) with bits outside it in either word.
				v2 := v & 0x00ff00ff000000ff
				if i%2 == 1 {
					v2 ^= 0x1_00000100
				}
				f, err := Compile(&specs.LinuxSeccomp{
					DefaultAction: specs.ActAllow,
					Architectures: []specs.Arch{archName},
					Syscalls: []specs.LinuxSyscall{{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EXDEV)),
						Args: []specs.LinuxSeccompArg{{Index: 1, Op: op, Value: v, ValueTwo: v2}}}},
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, arg := range values {
					d := seccompData{Nr: int32(nr), Arch: a.audit, Args: [6]uint64{arg ^ 1, arg, ^arg, 0, 0, 0}}
					got := run(t, f.prog, d, orderOf(a)) == matched
					if want := eval(op, arg, v, v2); got != want {
						t.Errorf("%s: getpriority(args[1]=%#x) with %s %#x (%#x): matched = %v, want %v", archName, arg, op, v, v2, got, want)
					}
				}
			}
		}
	}
}

// The docker profile, checked call by call on every architecture it names.
func TestDockerProfileSemantics(t *testing.T) {
	s := loadProfile(t, "docker.json")
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	for _, archName := range f.Architectures() {
		a := lookupArch(archName)
		call := func(name string, args ...uint64) uint32 {
			nr, ok := a.lookup(name)
			if !ok {
				t.Fatalf("%s has no %s", archName, name)
			}
			d := seccompData{Nr: int32(nr), Arch: a.audit}
			copy(d.Args[:], args)
			return run(t, f.prog, d, orderOf(a))
		}
		// Every allowed name the architecture has is allowed.
		for _, name := range s.Syscalls[0].Names {
			if _, ok := a.lookup(name); !ok {
				continue
			}
			if got := call(name); got != unix.SECCOMP_RET_ALLOW {
				t.Errorf("%s %s: %s, want SCMP_ACT_ALLOW", archName, name, retString(got))
			}
		}
		tests := []struct {
			name string
			args []uint64
			want uint32
		}{
			{"mount", nil, eperm},
			{"unshare", nil, eperm},
			{"kexec_load", nil, eperm},
			{"clone3", nil, enosys},
			{"clone", []uint64{uint64(unix.SIGCHLD)}, unix.SECCOMP_RET_ALLOW},
			{"clone", []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
			{"clone", []uint64{unix.CLONE_NEWNS | 1<<32}, eperm},
			{"personality", []uint64{0xffffffff}, unix.SECCOMP_RET_ALLOW},
			{"personality", []uint64{8}, unix.SECCOMP_RET_ALLOW},
			{"personality", []uint64{9}, eperm},
			{"personality", []uint64{0x1_00000000}, eperm},
		}
		if _, ok := a.lookup("socket"); ok {
			tests = append(tests, []struct {
				name string
				args []uint64
				want uint32
			}{
				{"socket", []uint64{unix.AF_UNIX}, unix.SECCOMP_RET_ALLOW},
				{"socket", []uint64{unix.AF_INET6}, unix.SECCOMP_RET_ALLOW},
				{"socket", []uint64{unix.AF_NETLINK}, unix.SECCOMP_RET_ALLOW},
				{"socket", []uint64{unix.AF_VSOCK}, eperm},
				{"socket", []uint64{unix.AF_ALG}, eperm},
				{"socket", []uint64{unix.AF_MCTP}, unix.SECCOMP_RET_ALLOW},
				{"socket", []uint64{unix.AF_MCTP + 1}, eperm},
			}...)
		}
		for _, tt := range tests {
			if got := call(tt.name, tt.args...); got != tt.want {
				t.Errorf("%s %s(%#x): %s, want %s", archName, tt.name, tt.args, retString(got), retString(tt.want))
			}
		}
		// A number above every call the profile names: ENOSYS, so that
		// programs fall back from calls newer than the profile.
		var max uint32
		for _, sc := range a.table {
			max = maxu(max, sc.nr)
		}
		d := seccompData{Nr: int32(max + 1), Arch: a.audit}
		if got := run(t, f.prog, d, orderOf(a)); got != enosys {
			t.Errorf("%s nr %#x: %s, want ENOSYS", archName, max+1, retString(got))
		}
	}
	// Other architectures are killed; an x86_64 filter without... the
	// docker profile has x32, so the bad-arch case is AArch64.
	d := seccompData{Nr: 0, Arch: unix.AUDIT_ARCH_AARCH64}
	if got := run(t, f.prog, d, binary.LittleEndian); got != unix.SECCOMP_RET_KILL_THREAD {
		t.Errorf("AArch64 call: %s, want SCMP_ACT_KILL_THREAD", retString(got))
	}
}

func maxu(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// Without SCMP_ARCH_X32 in the filter, x32 calls get the bad-arch action
// even though they carry AUDIT_ARCH_X86_64; nr -1 does not (libseccomp's
// rule: tracers set it to skip a call, and the filter runs again).
func TestX32NotListed(t *testing.T) {
	f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64}})
	if err != nil {
		t.Fatal(err)
	}
	for nr, want := range map[uint32]uint32{
		0:                   unix.SECCOMP_RET_ALLOW,
		X32_SYSCALL_BIT:     unix.SECCOMP_RET_KILL_THREAD,
		X32_SYSCALL_BIT | 1: unix.SECCOMP_RET_KILL_THREAD,
		0x80000000:          unix.SECCOMP_RET_KILL_THREAD,
		0xffffffff:          unix.SECCOMP_RET_ALLOW, // -1: a tracer skipped the call
	} {
		d := seccompData{Nr: int32(nr), Arch: unix.AUDIT_ARCH_X86_64}
		if got := run(t, f.prog, d, binary.LittleEndian); got != want {
			t.Errorf("nr %#x: %s, want %s", nr, retString(got), retString(want))
		}
	}
}

// A profile big enough that branches exceed 255 instructions: the
// assembler must insert trampolines, and every call must still reach its
// rule.
func TestLongJumps(t *testing.T) {
	a := lookupArch(NativeArch())
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActKillProcess}
	var names []string
	for i, sc := range a.table {
		if i%2 == 0 {
			continue
		}
		names = append(names, sc.name)
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{sc.name}, Action: specs.ActErrno, ErrnoRet: uintp(uint(i % MAX_ERRNO)),
			Args: []specs.LinuxSeccompArg{{Index: uint(i % 6), Op: specs.OpGreaterThan, Value: uint64(i) << 31}}})
	}
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Count(f.String(), "; long jump\n")
	if long == 0 {
		t.Fatalf("%d instructions and no long jump: the test does not exercise trampolines", len(f.prog))
	}
	for i, sc := range a.table {
		if i%2 == 0 {
			continue
		}
		var d seccompData
		d.Nr, d.Arch = int32(sc.nr), a.audit
		d.Args[i%6] = uint64(i)<<31 + 1
		if got, want := run(t, f.prog, d, orderOf(a)), unix.SECCOMP_RET_ERRNO|uint32(i%MAX_ERRNO); got != want {
			t.Errorf("%s: %s, want %s", sc.name, retString(got), retString(want))
		}
		d.Args[i%6] = uint64(i) << 31
		if got := run(t, f.prog, d, orderOf(a)); got != unix.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("%s with arg not above: %s, want KILL_PROCESS", sc.name, retString(got))
		}
	}
	t.Logf("%d instructions, %d long jumps, %s", len(f.prog), long, fmt.Sprint(len(names), " rules"))
}

// String generates the program again with comments; it must be the very
// program Compile produced.
func TestExplainedProgramIsTheProgram(t *testing.T) {
	for _, name := range []string{"docker.json", "small.json"} {
		f, err := Compile(loadProfile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		prog, comments, notify, err := generate(f.plan, f.defaultRet, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(prog, f.prog) || notify != f.notify || len(comments) != len(prog) {
			t.Errorf("%s: the explained program differs from the compiled one", name)
		}
	}
}
