package seccomp

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime/internal/unixsock"
)

// SendListener hands the listener fd of a notifying filter to the seccomp
// agent at linux.seccomp.listenerPath, as the OCI spec says: it connects to
// the unix socket and sends one message, the container process state as
// JSON, with fd attached (SCM_RIGHTS) and named "seccompFd" in st.Fds.
// st.Version and st.Fds are filled in when empty; st.Metadata should carry
// linux.seccomp.listenerMetadata. The agent answers the calls with Receive
// and Respond; fd stays open here (close it once sent).
func SendListener(ctx context.Context, path string, fd int, st specs.ContainerProcessState) error {
	if st.Version == "" {
		st.Version = specs.Version
	}
	if len(st.Fds) == 0 {
		st.Fds = []string{specs.SeccompFdName}
	}
	msg, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("seccomp listener %s: %w", path, err)
	}
	c, err := unixsock.Dial(ctx, path)
	if err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	defer c.Close()
	n, err := unixsock.Send(ctx, c, msg, unix.UnixRights(fd))
	if err != nil {
		return fmt.Errorf("seccomp listener %s: %w", path, err)
	}
	if n != len(msg) {
		return fmt.Errorf("seccomp listener %s: short write (%d of %d bytes)", path, n, len(msg))
	}
	return nil
}
