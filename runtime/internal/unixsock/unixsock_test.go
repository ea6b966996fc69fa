package unixsock

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A message and an fd sent on a dialled socket arrive at the listener as
// one message with SCM_RIGHTS.
func TestDialSend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	lfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 1); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if fl, _ := unix.FcntlInt(c.Fd(), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
		t.Errorf("Dial(%q) returned a non-blocking socket: the init sends on it with a plain sendmsg", path)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	n, err := Send(context.Background(), c, []byte("hello"), unix.UnixRights(int(w.Fd())))
	if err != nil || n != 5 {
		t.Fatalf("Send = %d, %v, want 5, nil", n, err)
	}
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)
	buf, oob := make([]byte, 16), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(afd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || string(buf[:n]) != "hello" || oobn == 0 {
		t.Fatalf("Recvmsg = %q, %d bytes of control, %v; want \"hello\" with an fd", buf[:n], oobn, err)
	}
	cms, _ := unix.ParseSocketControlMessage(oob[:oobn])
	fds, err := unix.ParseUnixRights(&cms[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("ParseUnixRights = %v, %v; want one fd", fds, err)
	}
	unix.Close(fds[0])
}

func TestDialNoListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none")
	_, err := Dial(context.Background(), path)
	var pe *os.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dial(%q) = %v, want a *os.PathError for ENOENT", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial(cancelled) = %v, want context.Canceled", err)
	}
}
