package highertools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a new pseudo-terminal pair: the master from /dev/ptmx,
// unlocked with TIOCSPTLCK, and its slave /dev/pts/N (N from TIOCGPTN).
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, os.NewSyscallError("ioctl TIOCSPTLCK", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, os.NewSyscallError("ioctl TIOCGPTN", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// runOnPTY runs a client with a terminal as its controlling tty and its
// stdin, stdout and stderr, as a user at a shell would, and returns what
// it wrote there (with the terminal's \r\n turned into \n).
func runOnPTY(ctx context.Context, env []string, name string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	master, slave, err := openPTY()
	if err != nil {
		return result{}, err
	}
	defer master.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		return result{}, err
	}
	slave.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// Reading the master fails with EIO once every holder of the
		// slave has closed it.
		_, _ = io.Copy(&out, master)
	}()
	werr := cmd.Wait()
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		// Something else (a container's process) still holds the slave.
		master.Close()
		<-copied
	}
	r := result{cmd: name + " " + strings.Join(args, " ") + " (on a tty)", stdout: strings.ReplaceAll(out.String(), "\r\n", "\n"), code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	var exit *exec.ExitError
	if ctx.Err() != nil {
		return r, fmt.Errorf("%s: %w\n%s", r.cmd, ctx.Err(), r)
	}
	if werr != nil && !errors.As(werr, &exit) {
		return r, fmt.Errorf("%s: %w", r.cmd, werr)
	}
	return r, nil
}
