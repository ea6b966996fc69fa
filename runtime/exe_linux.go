package runtime

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The container's init is hull itself, re-executed. If it were executed
// from its file on disk, the container's processes could open
// /proc/<init>/exe and write through it into the host's hull binary
// (CVE-2019-5736). So hull copies itself once into a memfd, seals the
// copy against any change (F_SEAL_WRITE, _GROW, _SHRINK, then _SEAL), and
// executes that: the container can reach only a sealed, anonymous file.

var sealed struct {
	once sync.Once
	f    *os.File
	err  error
}

// sealedExe returns the sealed memfd copy of this executable, made on
// first use and kept for the life of the process (close-on-exec, so it
// reaches no child but through execve of /proc/self/fd/N).
func sealedExe() (*os.File, error) {
	sealed.once.Do(func() { sealed.f, sealed.err = sealExe() })
	return sealed.f, sealed.err
}

func sealExe() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("hull", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "memfd_create", Err: err}
	}
	f := os.NewFile(uintptr(fd), "memfd:hull")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy /proc/self/exe to a memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, &os.SyscallError{Syscall: "fcntl(F_ADD_SEALS)", Err: err}
	}
	return f, nil
}
