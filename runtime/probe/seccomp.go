package probe

import (
	"os"
	"runtime"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// probeErrno is what the probe's filter makes getppid(2) return: an errno
// getppid can never return by itself.
const probeErrno = unix.ENOTRECOVERABLE

// probeSeccomp installs, on a thread that then dies, a filter failing
// getppid with probeErrno, and calls getppid.
func probeSeccomp() (Outcome, []string) {
	o := Outcome{Call: "seccomp(SECCOMP_SET_MODE_FILTER)"}
	var actions []string
	if b, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail"); err == nil {
		actions = strings.Fields(string(b))
	}
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		o.Skipped = "no AUDIT_ARCH known for " + runtime.GOARCH
		return o, actions
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: arch, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.SYS_GETPPID, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(probeErrno)},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
	})
	if err != nil {
		o.fail(err)
		return o, actions
	}
	done := make(chan Outcome)
	go func() {
		// Never unlocked: no_new_privs and the filter stay on this
		// thread, which exits with the goroutine.
		runtime.LockOSThread()
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			o.fail(os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err))
			done <- o
			return
		}
		if err := setFilter(prog); err != nil {
			o.fail(os.NewSyscallError("seccomp(SECCOMP_SET_MODE_FILTER)", err))
			done <- o
			return
		}
		_, _, errno := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		if errno != probeErrno {
			o.Err = "getppid() returned errno " + unix.ErrnoName(errno) + " under the filter, want " + unix.ErrnoName(probeErrno)
			done <- o
			return
		}
		o.OK = true
		o.Note = "getppid() failed with " + unix.ErrnoName(probeErrno) + " as the filter said"
		done <- o
	}()
	return <-done, actions
}

// auditArch is the AUDIT_ARCH_* value seccomp_data.arch holds for native
// system calls (include/uapi/linux/audit.h).
var auditArch = map[string]uint32{
	"amd64":   unix.AUDIT_ARCH_X86_64,
	"386":     unix.AUDIT_ARCH_I386,
	"arm64":   unix.AUDIT_ARCH_AARCH64,
	"arm":     unix.AUDIT_ARCH_ARM,
	"riscv64": unix.AUDIT_ARCH_RISCV64,
	"ppc64le": unix.AUDIT_ARCH_PPC64LE,
	"s390x":   unix.AUDIT_ARCH_S390X,
}
