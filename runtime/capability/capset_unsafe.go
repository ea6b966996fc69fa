package capability

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// capget(2) and capset(2) with _LINUX_CAPABILITY_VERSION_3 (Linux 2.6.26):
// a header (version, pid 0 = the calling thread) and two
// struct __user_cap_data_struct, the low and high 32 bits of each set
// (include/uapi/linux/capability.h). x/sys/unix has the structs but its
// Capget/Capset wrappers take one data struct, so the calls are made here.

func capget() (effective, permitted, inheritable Set, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	// SAFETY: hdr is a struct __user_cap_header_struct and data the two
	// struct __user_cap_data_struct version 3 reads and writes; both live
	// on this frame for the duration of the call.
	_, _, errno := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		return 0, 0, 0, os.NewSyscallError("capget", errno)
	}
	join := func(lo, hi uint32) Set { return Set(hi)<<32 | Set(lo) }
	return join(data[0].Effective, data[1].Effective), join(data[0].Permitted, data[1].Permitted),
		join(data[0].Inheritable, data[1].Inheritable), nil
}

func capset(effective, permitted, inheritable Set) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(effective), Permitted: uint32(permitted), Inheritable: uint32(inheritable)},
		{Effective: uint32(effective >> 32), Permitted: uint32(permitted >> 32), Inheritable: uint32(inheritable >> 32)},
	}
	// SAFETY: as in capget; the kernel only reads data.
	_, _, errno := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		return os.NewSyscallError("capset", errno)
	}
	return nil
}
