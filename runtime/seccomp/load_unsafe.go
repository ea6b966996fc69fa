package seccomp

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompSetModeFilter calls seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog).
func seccompSetModeFilter(flags uint, insns []unix.SockFilter) (uintptr, error) {
	if len(insns) == 0 {
		return 0, os.NewSyscallError("seccomp", unix.EINVAL)
	}
	prog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	// SAFETY: prog is a struct sock_fprog (unix.SockFprog has its layout)
	// pointing at len(insns) struct sock_filter; both stay reachable for
	// the duration of the call (the pointer is converted in the call
	// expression, so the Go compiler keeps prog alive), and the kernel
	// copies the program before returning.
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return 0, os.NewSyscallError("seccomp", errno)
	}
	return r, nil
}
