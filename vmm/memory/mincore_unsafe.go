package memory

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mincore is mincore(2), which x/sys/unix does not wrap: vec gets one
// byte per page of b, bit 0 set when the page is resident.
func mincore(b, vec []byte) error {
	if len(b) == 0 {
		return nil
	}
	// SAFETY: b and vec are live Go slices for the whole call; the kernel
	// reads nothing through b's address (it walks the page tables of the
	// range) and writes exactly ceil(len(b)/pagesize) bytes to vec, which
	// the caller sized so.
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
