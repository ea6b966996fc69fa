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
// (CVE-2019-5736). So hull never executes that file through a writable
// path:
//
//   - as root, it clones a mount of just its binary with open_tree(2)
//     (OPEN_TREE_CLONE: a detached mount, attached nowhere, that no one
//     else can reach or remount), makes it read-only with
//     mount_setattr(2), and executes the binary through that mount: a
//     write through /proc/<init>/exe fails with EROFS. It costs two
//     system calls;
//   - otherwise (rootless: open_tree needs CAP_SYS_ADMIN) it copies itself
//     into a memfd and seals the copy against any change (F_SEAL_WRITE,
//     _GROW, _SHRINK, then _SEAL): the container can reach only a sealed,
//     anonymous file. Copying the binary (sendfile, in the kernel) costs
//     about ten milliseconds.

var sealed struct {
	once sync.Once
	f    *os.File
	err  error
}

// sealedExe returns the protected copy of this executable (see above), made on
// first use and kept for the life of the process (close-on-exec, so it
// reaches no child but through execve of /proc/self/fd/N).
func sealedExe() (*os.File, error) {
	sealed.once.Do(func() { sealed.f, sealed.err = sealExe() })
	return sealed.f, sealed.err
}

func sealExe() (*os.File, error) {
	if f, err := readonlyExe(); err == nil {
		return f, nil
	}
	return memfdExe()
}

// readonlyExe returns an O_PATH descriptor of this executable inside a
// private, detached, read-only mount of it.
func readonlyExe() (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "open_tree", Err: err}
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, &os.SyscallError{Syscall: "mount_setattr", Err: err}
	}
	return os.NewFile(uintptr(fd), "ro-mount:hull"), nil
}

func memfdExe() (*os.File, error) {
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
	if err := sendfileAll(f, src); err != nil {
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

// sendfileAll copies src to the empty dst with sendfile(2), in the kernel:
// about half the time of io.Copy's round trips through a user buffer
// for hull's 20 MB. Where sendfile cannot (it copies nothing at all),
// io.Copy does it.
func sendfileAll(dst, src *os.File) error {
	st, err := src.Stat()
	if err != nil {
		return err
	}
	var done int64
	for done < st.Size() {
		n, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), nil, int(st.Size()-done))
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil && done == 0 {
			_, err = io.Copy(dst, src)
			return err
		}
		if err != nil {
			return &os.SyscallError{Syscall: "sendfile", Err: err}
		}
		if n == 0 {
			return fmt.Errorf("sendfile: %s ended after %d of %d bytes", src.Name(), done, st.Size())
		}
		done += int64(n)
	}
	return nil
}
