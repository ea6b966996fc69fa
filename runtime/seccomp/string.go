package seccomp

import (
	"fmt"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// String returns the program as BPF assembly, one instruction a line with
// its absolute jump targets and what it means in seccomp terms: the
// teaching view printed by --explain.
//
//	0000: ld   [4]                       ; A = seccomp_data.arch
//	0001: jeq  #0xc000003e  0002 0010    ; AUDIT_ARCH_X86_64
func (f *Filter) String() string {
	// Compile leaves comments out; generating again is deterministic
	// and yields the same instructions, now explained.
	prog, comments, _, err := generate(f.plan, f.defaultRet, true)
	if err != nil || len(prog) != len(f.prog) {
		prog, comments = f.prog, make([]string, len(f.prog))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# seccomp filter: %d instructions\n", len(f.prog))
	for _, h := range f.header {
		fmt.Fprintf(&b, "# %s\n", h)
	}
	for i, in := range prog {
		var op string
		switch in.Code {
		case opLdAbsW:
			op = fmt.Sprintf("ld   [%d]", in.K)
		case opAndK:
			op = fmt.Sprintf("and  #%#x", in.K)
		case opJa:
			op = fmt.Sprintf("ja   %04d", i+1+int(in.K))
		case opJeqK, opJgtK, opJgeK, opJsetK:
			name := map[uint16]string{opJeqK: "jeq ", opJgtK: "jgt ", opJgeK: "jge ", opJsetK: "jset"}[in.Code]
			op = fmt.Sprintf("%s #%#x  %04d %04d", name, in.K, i+1+int(in.Jt), i+1+int(in.Jf))
		case opRetK:
			op = fmt.Sprintf("ret  #%#x", in.K)
		default:
			op = fmt.Sprintf("code %#04x k %#x jt %d jf %d", in.Code, in.K, in.Jt, in.Jf)
		}
		if c := comments[i]; c != "" {
			fmt.Fprintf(&b, "%04d: %-32s ; %s\n", i, op, c)
		} else {
			fmt.Fprintf(&b, "%04d: %s\n", i, op)
		}
	}
	return b.String()
}

// retString names a filter return value as the OCI action it comes from.
func retString(ret uint32) string {
	data := ret & SECCOMP_RET_DATA
	switch ret & SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return string(specs.ActKillProcess)
	case unix.SECCOMP_RET_KILL_THREAD:
		return string(specs.ActKillThread)
	case unix.SECCOMP_RET_TRAP:
		return string(specs.ActTrap)
	case unix.SECCOMP_RET_ERRNO:
		return fmt.Sprintf("%s(%s)", specs.ActErrno, errnoName(data))
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("%s(%d)", specs.ActTrace, data)
	case unix.SECCOMP_RET_ALLOW:
		return string(specs.ActAllow)
	case unix.SECCOMP_RET_LOG:
		return string(specs.ActLog)
	case unix.SECCOMP_RET_USER_NOTIF:
		return string(specs.ActNotify)
	}
	return fmt.Sprintf("%#x", ret)
}

func errnoName(e uint32) string {
	if n := unix.ErrnoName(unix.Errno(e)); n != "" {
		return n
	}
	return fmt.Sprint(e)
}

func condString(cs []cond) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		arg := fmt.Sprintf("args[%d]", c.arg)
		switch c.op {
		case specs.OpEqualTo:
			s[i] = fmt.Sprintf("%s == %#x", arg, c.value)
		case specs.OpNotEqual:
			s[i] = fmt.Sprintf("%s != %#x", arg, c.value)
		case specs.OpLessThan:
			s[i] = fmt.Sprintf("%s < %#x", arg, c.value)
		case specs.OpLessEqual:
			s[i] = fmt.Sprintf("%s <= %#x", arg, c.value)
		case specs.OpGreaterThan:
			s[i] = fmt.Sprintf("%s > %#x", arg, c.value)
		case specs.OpGreaterEqual:
			s[i] = fmt.Sprintf("%s >= %#x", arg, c.value)
		case specs.OpMaskedEqual:
			s[i] = fmt.Sprintf("%s & %#x == %#x", arg, c.value, c.value2)
		}
	}
	return strings.Join(s, " && ")
}

// flagString prints SECCOMP_FILTER_FLAG_* bits, unknown bits in hex.
func flagString(flags uint) string {
	names := []struct {
		bit  uint
		name string
	}{
		{unix.SECCOMP_FILTER_FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"},
		{unix.SECCOMP_FILTER_FLAG_LOG, "SECCOMP_FILTER_FLAG_LOG"},
		{unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
		{unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, "SECCOMP_FILTER_FLAG_NEW_LISTENER"},
		{unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH, "SECCOMP_FILTER_FLAG_TSYNC_ESRCH"},
		{unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"},
	}
	var s []string
	for _, n := range names {
		if flags&n.bit != 0 {
			s = append(s, n.name)
			flags &^= n.bit
		}
	}
	if flags != 0 || len(s) == 0 {
		s = append(s, fmt.Sprintf("%#x", flags))
	}
	return strings.Join(s, "|")
}

func auditName(audit uint32) string {
	names := map[uint32]string{
		unix.AUDIT_ARCH_X86_64:      "AUDIT_ARCH_X86_64",
		unix.AUDIT_ARCH_I386:        "AUDIT_ARCH_I386",
		unix.AUDIT_ARCH_AARCH64:     "AUDIT_ARCH_AARCH64",
		unix.AUDIT_ARCH_ARM:         "AUDIT_ARCH_ARM",
		unix.AUDIT_ARCH_RISCV64:     "AUDIT_ARCH_RISCV64",
		unix.AUDIT_ARCH_PPC64LE:     "AUDIT_ARCH_PPC64LE",
		unix.AUDIT_ARCH_PPC64:       "AUDIT_ARCH_PPC64",
		unix.AUDIT_ARCH_PPC:         "AUDIT_ARCH_PPC",
		unix.AUDIT_ARCH_S390X:       "AUDIT_ARCH_S390X",
		unix.AUDIT_ARCH_LOONGARCH64: "AUDIT_ARCH_LOONGARCH64",
		unix.AUDIT_ARCH_MIPS:        "AUDIT_ARCH_MIPS",
		unix.AUDIT_ARCH_MIPSEL:      "AUDIT_ARCH_MIPSEL",
		unix.AUDIT_ARCH_MIPS64:      "AUDIT_ARCH_MIPS64",
		unix.AUDIT_ARCH_MIPSEL64:    "AUDIT_ARCH_MIPSEL64",
	}
	if n, ok := names[audit]; ok {
		return n
	}
	return fmt.Sprintf("%#x", audit)
}

// Summary describes the filter in one line, for a plan's printout:
// "55 BPF instructions, default SCMP_ACT_ERRNO(EPERM), SCMP_ARCH_X86_64,
// SCMP_ARCH_X86, flags SECCOMP_FILTER_FLAG_LOG, notifies".
func (f *Filter) Summary() string {
	s := fmt.Sprintf("%d BPF instructions, default %s, %s", len(f.prog), retString(f.defaultRet), archList(f.arches))
	if f.flags != 0 {
		s += ", flags " + flagString(f.flags)
	}
	if f.notify {
		s += ", notifies"
	}
	return s
}
