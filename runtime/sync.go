package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The parent and the init talk over a SOCK_SEQPACKET socketpair: one JSON
// message per packet, so no framing is needed and a dead peer reads as
// EOF. See the package documentation for the whole exchange.

type syncType string

const (
	syncPlan      syncType = "plan"      // parent → init: the plan and its fds
	syncHooks     syncType = "hooks"     // init → parent: run prestart/createRuntime now
	syncHooksDone syncType = "hooksDone" // parent → init: they ran
	syncReady     syncType = "ready"     // init → parent: created, waiting for start
	syncError     syncType = "error"     // init → parent: a step failed
)

type syncMsg struct {
	Type  syncType `json:"type"`
	Error string   `json:"error,omitempty"`

	// With syncPlan.
	Plan      *Plan        `json:"plan,omitempty"`
	State     *specs.State `json:"state,omitempty"`
	FifoFD    int          `json:"fifoFD,omitempty"`
	ConsoleFD int          `json:"consoleFD,omitempty"`
}

const maxSyncMsg = 4 << 20

func writeSync(f *os.File, m syncMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxSyncMsg {
		return fmt.Errorf("sync message of %d bytes is too large", len(b))
	}
	for {
		_, err = unix.Write(int(f.Fd()), b)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &os.SyscallError{Syscall: "write sync socket", Err: err}
	}
	return nil
}

func readSync(f *os.File) (syncMsg, error) {
	m, fd, err := readSyncFD(f)
	if fd >= 0 {
		// Only the seccomp message carries an fd, and it is read
		// with readSyncFD: an unexpected one is not kept.
		unix.Close(fd)
	}
	return m, err
}

var errInitGone = fmt.Errorf("the container's init exited before it was ready")

// syncSeccomp (init → parent) carries the seccomp listener fd as
// SCM_RIGHTS; the parent answers syncSeccompDone once the agent has it.
const (
	syncSeccomp     syncType = "seccomp"
	syncSeccompDone syncType = "seccompDone"
)

func sendSeccompFD(c *initContext, fd int) error {
	b, err := json.Marshal(syncMsg{Type: syncSeccomp})
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(int(c.sync.Fd()), b, unix.UnixRights(fd), nil, 0); err != nil {
		return &os.SyscallError{Syscall: "sendmsg(seccomp fd)", Err: err}
	}
	unix.Close(fd)
	m, err := readSync(c.sync)
	if err != nil {
		return err
	}
	if m.Type != syncSeccompDone {
		return fmt.Errorf("seccomp agent: %s", m.Error)
	}
	return nil
}

// readSyncFD reads a message that may carry one fd.
//
// The buffer is the packet's own size, asked of the kernel first
// (MSG_PEEK|MSG_TRUNC returns a datagram's full length without taking
// it): a fixed buffer as large as the largest plan would cost both ends
// its pages, for a message that is a few kilobytes.
func readSyncFD(f *os.File) (syncMsg, int, error) {
	var m syncMsg
	fd := int(f.Fd())
	size, err := packetSize(fd)
	if err != nil {
		return m, -1, err
	}
	if size == 0 {
		return m, -1, errInitGone
	}
	if size > maxSyncMsg {
		return m, -1, fmt.Errorf("sync message of %d bytes is too large", size)
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return m, -1, &os.SyscallError{Syscall: "recvmsg sync socket", Err: err}
		}
		if n == 0 {
			return m, -1, errInitGone
		}
		fd := -1
		if oobn > 0 {
			if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, cm := range cms {
					if fds, err := unix.ParseUnixRights(&cm); err == nil && len(fds) > 0 {
						fd = fds[0]
					}
				}
			}
		}
		// Field by field: hull and its init are two programs (hull and
		// hull-init), and an init from another build must refuse a plan
		// with a step it does not know rather than skip it.
		dec := json.NewDecoder(bytes.NewReader(buf[:n]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return m, fd, fmt.Errorf("malformed sync message (are hull and %s from the same build?): %w", InitProgramName, err)
		}
		return m, fd, nil
	}
}

// packetSize waits for the next packet on a SOCK_SEQPACKET socket and
// returns its length, leaving it queued; 0 means the peer has gone. A
// peek passes no control buffer, so no descriptor the packet carries is
// installed twice.
func packetSize(fd int) (int, error) {
	for {
		n, _, _, _, err := unix.Recvmsg(fd, nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.SyscallError{Syscall: "recvmsg(MSG_PEEK) sync socket", Err: err}
		}
		return n, nil
	}
}
