package runtime

import (
	"os"

	"github.com/hullrt/hull/runtime/capability"
	"golang.org/x/sys/unix"
)

// The capability steps, applied by runtime/capability in the order the
// kernel demands: DropBounding while the init still has CAP_SETPCAP,
// SetUser with PR_SET_KEEPCAPS so the permitted set survives the uid
// change, then Capabilities (capset, then the ambient set, which must be
// a subset of permitted and inheritable).

func (d *DropBounding) run(c *initContext) error {
	keep, err := capability.Parse(d.Keep)
	if err != nil {
		return err
	}
	return capability.DropBounding(keep)
}

func (s *Capabilities) run(c *initContext) error {
	st, err := capability.FromSpec(&s.Caps)
	if err != nil {
		return err
	}
	// The bounding set was dropped before SetUser; Apply's own drop is a
	// no-op now.
	return st.Apply()
}

func personality(per int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_PERSONALITY, uintptr(per), 0, 0)
	if e != 0 {
		return 0, os.NewSyscallError("personality", e)
	}
	return int(r), nil
}
