package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// "hull exec" by an unprivileged user. setns(2) into a pid, net, ipc,
// uts or cgroup namespace wants CAP_SYS_ADMIN both over the namespace
// (its owner is the container's user namespace, where the user has
// every capability) and in the caller's own user namespace, which an
// unprivileged caller never has in the host's. So the parent enters
// none of them: the nsenter constructor of the exec process enters the
// user namespace first, then all the others, and forks, since a pid
// namespace entered by setns holds only the caller's children:
//
//	hull exec (uid 1000)            exec process (constructor)       its child
//	────────────────────            ──────────────────────────       ─────────
//	clone, _HULL_NSENTER lists ───▶ setns user, ipc, uts, net,
//	every namespace                 pid, cgroup, time, mnt; fork ──▶ (in the pid namespace)
//	◀── {"type":"pid","pid":N} ──── sends N, closes its sync socket  Go starts: the exec
//	cgroup, pid file, signals: N    relays signals to N, exits as    init, as when root
//	── plan ──────────────────────────────────────────────────────▶ steps, execve
//	wait: the relay's status        N exits (its status, or its signal)
//
// The relay's wait status is its child's, so waiting for the process hull
// started waits for the program; signals go to N itself.

// constructorEntersAll reports whether the exec process's constructor
// must enter every namespace: the caller is not root and joins a user
// namespace.
func constructorEntersAll(join []JoinNamespace) bool {
	if os.Geteuid() == 0 {
		return false
	}
	for _, j := range join {
		if j.Type == specs.UserNamespace {
			return true
		}
	}
	return false
}

// relayMsg is what the constructor's relay sends (or its error).
type relayMsg struct {
	Type  string `json:"type"`
	Pid   int    `json:"pid"`
	Error string `json:"error"`
}

// readRelayPid reads the pid of the exec process's child, in the
// container's pid namespace, from the relay the constructor became.
func readRelayPid(sock *os.File) (int, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(int(sock.Fd()), buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.SyscallError{Syscall: "read sync socket", Err: err}
		}
		if n == 0 {
			return 0, errInitGone
		}
		var m relayMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			return 0, fmt.Errorf("malformed message from the nsenter relay: %w", err)
		}
		switch {
		case m.Type == "error":
			return 0, errors.New(m.Error)
		case m.Type != "pid" || m.Pid <= 0:
			return 0, fmt.Errorf("expected the exec process's pid from the nsenter relay, got %q", m.Type)
		}
		return m.Pid, nil
	}
}
