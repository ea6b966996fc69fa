package runtime

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime/internal/unixsock"
)

// run makes the container's terminal. The pty pair comes from the
// container's own devpts (its /dev/pts/ptmx), the master goes to the
// caller over the console socket with SCM_RIGHTS (the caller, conmon or
// containerd's shim, then owns the terminal), and the slave becomes the
// init's controlling tty and stdio, bound over /dev/console.
func (cs *Console) run(c *initContext) error {
	if c.consoleFD <= 0 {
		return fmt.Errorf("process.terminal is set but no --console-socket was given")
	}
	sock := os.NewFile(uintptr(c.consoleFD), "console-socket")
	defer sock.Close()

	mfd, err := unix.Open("/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/pts/ptmx", Err: err}
	}
	master := os.NewFile(uintptr(mfd), "/dev/pts/ptmx")
	defer master.Close()
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return &os.SyscallError{Syscall: "ioctl(TIOCSPTLCK)", Err: err}
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		return &os.SyscallError{Syscall: "ioctl(TIOCGPTN)", Err: err}
	}
	slavePath := fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: slavePath, Err: err}
	}
	if cs.Width > 0 || cs.Height > 0 {
		ws := unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)}
		if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &ws); err != nil {
			return &os.SyscallError{Syscall: "ioctl(TIOCSWINSZ)", Err: err}
		}
	}
	// /dev/console is the slave, as on a real machine (for the
	// container's init; an exec'd process leaves it alone).
	if c.root == nil {
		// exec: nothing to bind.
	} else if t, err := mkdirInRoot(c.root, "/dev/console", true); err == nil {
		err = mount(slavePath, procFD(t), "", unix.MS_BIND, "", "/dev/console")
		t.Close()
		if err != nil {
			return err
		}
	} else {
		return err
	}
	rights := unix.UnixRights(mfd)
	if err := unix.Sendmsg(int(sock.Fd()), []byte(slavePath), rights, nil, 0); err != nil {
		return &os.SyscallError{Syscall: "sendmsg(console socket)", Err: err}
	}
	if err := unix.IoctlSetInt(sfd, unix.TIOCSCTTY, 0); err != nil {
		return &os.SyscallError{Syscall: "ioctl(TIOCSCTTY)", Err: err}
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(sfd, i, 0); err != nil {
			return &os.SyscallError{Syscall: "dup3", Err: err}
		}
	}
	return unix.Close(sfd)
}

// dialConsoleSocket connects to the caller's --console-socket and returns
// the connection as a (blocking) file, on which the init sends the pty
// master with SCM_RIGHTS.
func dialConsoleSocket(path string) (*os.File, error) {
	f, err := unixsock.Dial(context.Background(), path)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return f, nil
}
