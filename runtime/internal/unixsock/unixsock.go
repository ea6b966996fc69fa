package unixsock

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Dial connects to the stream socket at path and returns it as a
// blocking file, close-on-exec. It fails at once, as package net does,
// when nothing listens there or the listener's backlog is full.
func Dial(ctx context.Context, path string) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err == nil {
		err = unix.SetNonblock(fd, false)
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Send writes msg with the control message oob (unix.UnixRights, say) on
// the connected socket f in one sendmsg, waiting while the peer's buffer
// is full until ctx is done. It returns the bytes of msg written.
func Send(ctx context.Context, f *os.File, msg, oob []byte) (int, error) {
	fd := int(f.Fd())
	for {
		n, err := unix.SendmsgN(fd, msg, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if err := waitWritable(ctx, fd); err != nil {
				return 0, err
			}
			continue
		}
		return 0, &os.PathError{Op: "sendmsg", Path: f.Name(), Err: err}
	}
}

// waitWritable polls fd for POLLOUT until it is writable or ctx is done
// (checked every 100 ms at most, and at its deadline).
func waitWritable(ctx context.Context, fd int) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait := 100 * time.Millisecond
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			wait = max(time.Until(d), 0)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, int(wait.Milliseconds()))
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("poll", err)
		}
		if n > 0 {
			return nil
		}
	}
}
