package seccomp

import (
	"errors"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"
)

// Features describes what Compile and Load support, for `hull features`:
// every action, operator and architecture Compile accepts, the flags it
// knows, and those the running kernel supports.
func Features() *features.Seccomp {
	enabled := true
	actions := []string{
		string(specs.ActAllow), string(specs.ActErrno), string(specs.ActKill), string(specs.ActKillProcess),
		string(specs.ActKillThread), string(specs.ActLog), string(specs.ActNotify), string(specs.ActTrace), string(specs.ActTrap),
	}
	operators := []string{
		string(specs.OpEqualTo), string(specs.OpGreaterEqual), string(specs.OpGreaterThan), string(specs.OpLessEqual),
		string(specs.OpLessThan), string(specs.OpMaskedEqual), string(specs.OpNotEqual),
	}
	var archs, known, supported []string
	for _, a := range Arches() {
		archs = append(archs, string(a))
	}
	slices.Sort(archs)
	for name, bit := range filterFlags {
		known = append(known, string(name))
		if FlagSupported(bit) {
			supported = append(supported, string(name))
		}
	}
	slices.Sort(known)
	slices.Sort(supported)
	return &features.Seccomp{Enabled: &enabled, Actions: actions, Operators: operators, Archs: archs, KnownFlags: known, SupportedFlags: supported}
}

// FlagSupported asks the kernel whether it knows a SECCOMP_FILTER_FLAG_*
// bit: seccomp(2) checks the flags before it reads the program, so a NULL
// program fails with EFAULT for a known flag and EINVAL for an unknown one,
// and nothing is installed (the probe libseccomp uses).
func FlagSupported(flag uint) bool {
	if flag&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
		flag |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER // required with it
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, uintptr(flag), 0)
	return errors.Is(errno, unix.EFAULT)
}
