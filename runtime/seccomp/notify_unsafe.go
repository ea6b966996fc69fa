package seccomp

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if errno != 0 {
		return os.NewSyscallError("ioctl", errno)
	}
	return nil
}

func ioctlNotif(fd int, req uint, n *seccompNotif) error {
	// SAFETY: n points at a zeroed struct seccomp_notif (seccompNotif has
	// its 80-byte layout, pinned by a test) that the kernel fills.
	return ioctlPtr(fd, req, unsafe.Pointer(n))
}

func ioctlNotifResp(fd int, req uint, r *seccompNotifResp) error {
	// SAFETY: r points at a struct seccomp_notif_resp (24 bytes, pinned by
	// a test) that the kernel reads.
	return ioctlPtr(fd, req, unsafe.Pointer(r))
}

func ioctlID(fd int, req uint, id *uint64) error {
	// SAFETY: id points at the __u64 the kernel reads.
	return ioctlPtr(fd, req, unsafe.Pointer(id))
}
