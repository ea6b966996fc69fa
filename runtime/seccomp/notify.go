package seccomp

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Notification is a system call a filter handed to its listener with
// SCMP_ACT_NOTIFY. The calling thread sleeps until the listener responds.
type Notification struct {
	ID                 uint64 // cookie to respond with
	Pid                uint32 // the calling thread, in the listener's pid namespace
	Flags              uint32
	Arch               uint32 // AUDIT_ARCH_*
	Nr                 int32
	InstructionPointer uint64
	Args               [6]uint64
}

// Syscall names the notified system call ("" if unknown).
func (n *Notification) Syscall() string { return SyscallName(n.Arch, n.Nr) }

// Response answers a Notification: the call returns Val, or fails with
// Errno, or, with Continue, runs in the kernel as if it had been allowed
// (Linux 5.5; then Val and Errno must be zero — and since the target may
// have changed its memory since, Continue is no security decision).
type Response struct {
	ID       uint64
	Val      int64
	Errno    unix.Errno
	Continue bool
}

// Receive waits for the next notification on a listener fd
// (SECCOMP_IOCTL_NOTIF_RECV). It retries EINTR; ENOENT means the caller
// died (or was interrupted) before it was received.
func Receive(fd int) (*Notification, error) {
	for {
		var n seccompNotif
		err := ioctlNotif(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, &n)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("SECCOMP_IOCTL_NOTIF_RECV: %w", err)
		}
		return &Notification{
			ID: n.ID, Pid: n.Pid, Flags: n.Flags,
			Arch: n.Data.Arch, Nr: n.Data.Nr,
			InstructionPointer: n.Data.InstructionPointer, Args: n.Data.Args,
		}, nil
	}
}

// Respond answers a notification (SECCOMP_IOCTL_NOTIF_SEND). ENOENT means
// the caller is gone.
func Respond(fd int, r Response) error {
	resp := seccompNotifResp{ID: r.ID, Val: r.Val, Error: -int32(r.Errno)}
	if r.Continue {
		resp.Flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE
	}
	for {
		err := ioctlNotifResp(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, &resp)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("SECCOMP_IOCTL_NOTIF_SEND: %w", err)
		}
		return nil
	}
}

// NotificationValid reports whether the notification id is still pending
// (SECCOMP_IOCTL_NOTIF_ID_VALID): a listener that read the caller's memory
// checks it afterwards, so that the pid was not reused meanwhile.
func NotificationValid(fd int, id uint64) bool {
	return ioctlID(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == nil
}
