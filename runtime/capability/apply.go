package capability

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Capabilities belong to a thread, not a process: everything here acts on
// the calling thread only. Call it from a goroutine locked to its thread
// (runtime.LockOSThread) that then execs the container's process, so that
// the program runs with exactly these sets.

// Apply sets all five capability sets of the calling thread to
// process.capabilities, for a process that keeps its user: see
// State.Apply. As runc does, capabilities the running kernel does not know
// (newer than Last()) are ignored, and so are ambient capabilities that
// are not permitted and inheritable (see State.UnraisableAmbient).
func Apply(c *specs.LinuxCapabilities) error {
	st, err := FromSpec(c)
	if err != nil {
		return err
	}
	return st.Apply()
}

// Apply sets the calling thread's sets in the only order that works:
//
//  1. DropBounding: prctl(PR_CAPBSET_DROP) needs CAP_SETPCAP in the
//     effective set, so it comes while the thread still has it;
//  2. SetProcess: capset(2) effective, permitted, inheritable; inheritable
//     can hold only capabilities still in the bounding set;
//  3. SetAmbient: a capability can be raised into the ambient set only if
//     it is permitted and inheritable, so it comes last.
//
// To change the user too, use ApplyAsUser.
func (s State) Apply() error {
	s = s.known()
	if err := DropBounding(s.Bounding); err != nil {
		return err
	}
	if err := SetProcess(s.Effective, s.Permitted, s.Inheritable); err != nil {
		return err
	}
	return SetAmbient(s.Ambient)
}

// ApplyAsUser applies the sets around setUser, which switches the thread to
// the container's user (setgroups, setgid, setuid), in runc's order:
//
//  1. DropBounding, while CAP_SETPCAP is still effective;
//  2. KeepCaps(true): without PR_SET_KEEPCAPS, setuid from 0 to another
//     user clears the permitted set, and nothing could be raised again;
//  3. setUser(): needs CAP_SETUID and CAP_SETGID, still held; the kernel
//     clears the effective set at the switch but keeps the permitted one;
//  4. KeepCaps(false), so that the process's own later setuid calls behave
//     as usual;
//  5. SetProcess: capset from the kept permitted set;
//  6. SetAmbient: after capset made them permitted and inheritable; they
//     are what a non-root program keeps across execve.
func (s State) ApplyAsUser(setUser func() error) error {
	s = s.known()
	if err := DropBounding(s.Bounding); err != nil {
		return err
	}
	if err := KeepCaps(true); err != nil {
		return err
	}
	if err := setUser(); err != nil {
		return err
	}
	if err := KeepCaps(false); err != nil {
		return err
	}
	if err := SetProcess(s.Effective, s.Permitted, s.Inheritable); err != nil {
		return err
	}
	return SetAmbient(s.Ambient)
}

// known drops capabilities the running kernel does not have, and ambient
// capabilities that are not both permitted and inheritable.
func (s State) known() State {
	all := All()
	return State{s.Bounding & all, s.Effective & all, s.Permitted & all, s.Inheritable & all,
		s.Ambient & s.Permitted & s.Inheritable & all}
}

// UnraisableAmbient returns the ambient capabilities Apply skips because
// they are not both permitted and inheritable: the kernel refuses to raise
// them (EPERM). runc and crun skip them too, and runc's own default spec
// lists ambient capabilities without inheritable ones, so such configs
// must run; a runtime can warn about them.
func (s State) UnraisableAmbient() Set { return s.Ambient &^ (s.Permitted & s.Inheritable) }

// DropBounding removes every capability not in keep from the calling
// thread's bounding set (prctl(PR_CAPBSET_DROP), which needs CAP_SETPCAP).
// Capabilities already dropped are skipped, so a thread whose bounding set
// is already within keep needs no privilege.
func DropBounding(keep Set) error {
	for c := Cap(0); c <= Last(); c++ {
		if keep.Has(c) {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break // beyond the kernel's last capability (Last fell back)
		}
		if err != nil {
			return fmt.Errorf("prctl(PR_CAPBSET_READ, %v): %w", c, os.NewSyscallError("prctl", err))
		}
		if in == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAPBSET_DROP, %v): %w", c, os.NewSyscallError("prctl", err))
		}
	}
	return nil
}

// KeepCaps sets or clears PR_SET_KEEPCAPS: whether the thread keeps its
// permitted set when it switches from uid 0 to another user.
func KeepCaps(on bool) error {
	var v uintptr
	if on {
		v = 1
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, v, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS, %d): %w", v, os.NewSyscallError("prctl", err))
	}
	return nil
}

// SetProcess sets the calling thread's effective, permitted and inheritable
// sets with capset(2). The kernel refuses (EPERM) to add to the permitted
// set, an effective capability that is not permitted, or an inheritable one
// outside the bounding set.
func SetProcess(effective, permitted, inheritable Set) error {
	if err := capset(effective, permitted, inheritable); err != nil {
		return fmt.Errorf("capset(effective=%v, permitted=%v, inheritable=%v): %w", effective, permitted, inheritable, err)
	}
	return nil
}

// SetAmbient makes ambient the calling thread's ambient set:
// prctl(PR_CAP_AMBIENT_CLEAR_ALL), then PR_CAP_AMBIENT_RAISE for each. A
// capability must be permitted and inheritable to be raised (else EPERM).
// On kernels without ambient capabilities (before 4.3) an empty set is
// not an error.
func SetAmbient(ambient Set) error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		if ambient == 0 && errors.Is(err, unix.EINVAL) {
			return nil
		}
		return fmt.Errorf("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL): %w", os.NewSyscallError("prctl", err))
	}
	for _, c := range ambient.Caps() {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %v): %w", c, os.NewSyscallError("prctl", err))
		}
	}
	return nil
}

// Current returns the calling thread's five sets, asked from the kernel:
// capget(2), PR_CAPBSET_READ and PR_CAP_AMBIENT_IS_SET for each capability.
func Current() (State, error) {
	var st State
	var err error
	st.Effective, st.Permitted, st.Inheritable, err = capget()
	if err != nil {
		return State{}, fmt.Errorf("capget: %w", err)
	}
	for c := Cap(0); c <= Last(); c++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break // beyond the kernel's last capability
		}
		if err != nil {
			return State{}, fmt.Errorf("prctl(PR_CAPBSET_READ, %v): %w", c, os.NewSyscallError("prctl", err))
		}
		if in == 1 {
			st.Bounding |= Of(c)
		}
		amb, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(c), 0, 0)
		if err == nil && amb == 1 {
			st.Ambient |= Of(c)
		}
	}
	return st, nil
}
