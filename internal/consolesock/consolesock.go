// Package consolesock is the receiving end of runc's --console-socket
// protocol: the container's init connects to an AF_UNIX socket and sends
// the master of the pseudo-terminal it made as SCM_RIGHTS. hull run's
// own terminal and the engine's containers with a tty both listen so.
package consolesock

import (
	"errors"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Accept accepts one connection on ln and returns the pty master it
// carries, close-on-exec, named by the message's text (the console's
// path, as the init sends it).
func Accept(ln *net.UnixListener) (*os.File, error) {
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil && len(fds) == 1 {
			unix.CloseOnExec(fds[0])
			return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
		}
	}
	return nil, errors.New("console socket: no file descriptor in the message")
}
