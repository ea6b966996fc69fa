package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The capability steps. The order matters and is fixed by the plan:
// DropBounding while the init still has CAP_SETPCAP, SetUser with
// PR_SET_KEEPCAPS so the permitted set survives the uid change, then
// Capabilities sets effective, permitted and inheritable with capset(2)
// and raises the ambient set (which must be a subset of permitted and
// inheritable).

func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func capMask(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		v, ok := capabilityNumber(n)
		if !ok {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
		m |= 1 << uint(v)
	}
	return m, nil
}

func (d *DropBounding) run(c *initContext) error {
	keep, err := capMask(d.Keep)
	if err != nil {
		return err
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	for i := 0; i <= last; i++ {
		if keep&(1<<uint(i)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil && err != unix.EINVAL {
			return &os.SyscallError{Syscall: fmt.Sprintf("prctl(PR_CAPBSET_DROP, %d)", i), Err: err}
		}
	}
	return nil
}

func (s *Capabilities) run(c *initContext) error {
	eff, err := capMask(s.Caps.Effective)
	if err != nil {
		return err
	}
	perm, err := capMask(s.Caps.Permitted)
	if err != nil {
		return err
	}
	inh, err := capMask(s.Caps.Inheritable)
	if err != nil {
		return err
	}
	amb, err := capMask(s.Caps.Ambient)
	if err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0] = unix.CapUserData{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)}
	data[1] = unix.CapUserData{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return &os.SyscallError{Syscall: "capset", Err: err}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return &os.SyscallError{Syscall: "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", Err: err}
	}
	for i := 0; i < 64; i++ {
		if amb&(1<<uint(i)) == 0 {
			continue
		}
		// The kernel allows an ambient capability only if it is both
		// permitted and inheritable; runc's own default spec lists
		// ambient capabilities without inheritable ones, and runc and
		// crun skip those. So does hull, for the same configs to run.
		err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(i), 0, 0)
		if err == unix.EPERM && (perm&inh)&(1<<uint(i)) == 0 {
			continue
		}
		if err != nil {
			return &os.SyscallError{Syscall: fmt.Sprintf("prctl(PR_CAP_AMBIENT_RAISE, %d)", i), Err: err}
		}
	}
	return nil
}

func personality(per int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_PERSONALITY, uintptr(per), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
