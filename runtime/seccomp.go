package runtime

import (
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/hullrt/hull/runtime/seccomp"
)

// compileSeccomp compiles linux.seccomp with runtime/seccomp at plan time,
// so that a bad profile fails create before anything exists, and keeps
// the program's listing for --explain.
func compileSeccomp(s *Seccomp) error {
	f, err := seccomp.Compile(s.Spec)
	if err != nil {
		return err
	}
	s.Program = f.String()
	s.Notify = f.Notifies()
	return nil
}

// run loads the filter. A notifying filter's listener fd goes to the
// parent over the sync socket, which hands it to the seccomp agent at
// linux.seccomp.listenerPath (a host path the init can no longer reach).
func (s *Seccomp) run(c *initContext) error {
	f, err := seccomp.Compile(s.Spec)
	if err != nil {
		return err
	}
	fd, err := f.Load()
	if err != nil {
		return err
	}
	if fd < 0 {
		return nil
	}
	return sendSeccompFD(c, fd)
}

func seccompFeatures() *features.Seccomp { return seccomp.Features() }
