package runtime

import (
	"fmt"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A profile that denies thread creation must still let hull's init reach
// execve: without no_new_privs the filter is loaded before the init drops
// its capabilities and waits for start, and a thread the Go runtime
// started then would fail in clone3 and abort the init (seen in CI, under
// runtime-tools' default profile, in the middle of a garbage collection).
func TestSeccompDenyingThreadsBeforeStart(t *testing.T) {
	e := newTestEnv(t)
	deny := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names:    []string{"clone", "clone3", "rseq"},
			Action:   specs.ActErrno,
			ErrnoRet: new(uint(1)), // EPERM, as runtime-tools' profile
		}},
	}
	for i := range 8 {
		s := e.spec("sh", "-c", "echo ran")
		s.Process.NoNewPrivileges = false
		s.Linux.Seccomp = deny
		if code, out := e.run(fmt.Sprintf("nothreads-%d", i), s); code != 0 || out != "ran" {
			t.Fatalf("run %d under a profile denying clone/clone3/rseq = %d, %q; want 0, \"ran\"", i, code, out)
		}
	}
}
