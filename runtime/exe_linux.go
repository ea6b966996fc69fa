package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hullrt/hull/internal/sibling"
	"golang.org/x/sys/unix"
)

// The container's init runs hull-init, a program installed next to hull
// that links only this package (cmd/hull-init): it starts sooner than hull
// does, because a Go program's start-up grows with what it links, and hull
// also links the command line and the VMM. Where there is no hull-init
// beside the running executable (a hull built alone, or a program
// embedding this package), the init is that executable itself,
// re-executed; either way the init runs from this package's init function
// (see init_linux.go), so the program is only a smaller or larger vehicle
// for the same code. hull and hull-init must come from the same build: the
// plan between them is checked field by field (readSyncFD).
//
// If the init were executed from its file on disk, the container's
// processes could open /proc/<init>/exe and write through it into the
// host's binary (CVE-2019-5736). So hull never executes that file
// through a writable path:
//
//   - as root, it clones a mount of just that file with open_tree(2)
//     (OPEN_TREE_CLONE: a detached mount, attached nowhere, that no one
//     else can reach or remount), makes it read-only with
//     mount_setattr(2), and executes the binary through that mount: a
//     write through /proc/<init>/exe fails with EROFS. It costs two
//     system calls;
//   - otherwise (rootless: open_tree needs CAP_SYS_ADMIN) it copies the
//     file into a memfd and seals the copy against any change
//     (F_SEAL_WRITE, _GROW, _SHRINK, then _SEAL): the container can
//     reach only a sealed, anonymous file. Copying (sendfile, in the
//     kernel) costs about two milliseconds for hull-init, ten for hull.

// InitProgramName is the container init's program, installed next to
// hull.
const InitProgramName = "hull-init"

// initProgram returns the file the container's init executes: hull-init
// next to this executable, or this executable. (Looked up once: the
// status of a container compares its init's program with it.)
var initProgram = sync.OnceValue(func() string {
	if p := sibling.Find(InitProgramName); p != "" {
		return p
	}
	return "/proc/self/exe"
})

var sealed struct {
	once sync.Once
	f    *os.File
	err  error
}

// sealedExe returns the protected copy of the init's program (see above),
// made on first use and kept for the life of the process (close-on-exec,
// so it reaches no child but through execve of /proc/self/fd/N).
func sealedExe() (*os.File, error) {
	sealed.once.Do(func() { sealed.f, sealed.err = sealExe() })
	return sealed.f, sealed.err
}

func sealExe() (*os.File, error) {
	prog := initProgram()
	if f, err := readonlyExe(prog); err == nil {
		return f, nil
	}
	return memfdExe(prog)
}

// readonlyExe returns an O_PATH descriptor of the executable at path
// inside a private, detached, read-only mount of it.
func readonlyExe(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, &os.SyscallError{Syscall: "open_tree", Err: err}
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, &os.SyscallError{Syscall: "mount_setattr", Err: err}
	}
	return os.NewFile(uintptr(fd), "ro-mount:"+filepath.Base(path)), nil
}

// memfdExe returns a sealed memfd holding a copy of the executable at
// path.
func memfdExe(path string) (*os.File, error) {
	src, err := os.Open(path)
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
		return nil, fmt.Errorf("copy %s to a memfd: %w", path, err)
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
