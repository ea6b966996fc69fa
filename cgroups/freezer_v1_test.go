package cgroups

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// execLoopEnv makes TestV1ExecLoopHelper the workload of
// TestV1FreezeExecLoop instead of a test.
const execLoopEnv = "HULL_CGROUPS_EXEC_LOOP"

// TestV1ExecLoopHelper is not a test: run with execLoopEnv set, it
// execve's this test binary again, forever. A Go program has several
// threads, so each execve first waits in the kernel for its other
// threads to die: the moment the v1 freezer cannot take.
func TestV1ExecLoopHelper(t *testing.T) {
	if os.Getenv(execLoopEnv) == "" {
		t.Skip("the workload of TestV1FreezeExecLoop")
	}
	err := syscall.Exec(os.Args[0], os.Args, os.Environ())
	t.Fatalf("execve %s: %v", os.Args[0], err)
}

// TestV1FreezeExecLoop freezes and thaws, again and again, a cgroup whose
// task does nothing but execve a multi-threaded program: the v1 freezer
// can stay FREEZING while a task is inside execve, and Freeze must still
// end FROZEN, never hang or leave the cgroup FREEZING.
func TestV1FreezeExecLoop(t *testing.T) {
	m := newManager(t, hostV1(t))
	start(t, m, false, fmt.Sprintf("%s=1 exec %s -test.run='^TestV1ExecLoopHelper$'", execLoopEnv, os.Args[0]))
	eventually(t, "the exec loop to run", func() bool { pids, _ := m.Pids(); return len(pids) == 1 })
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		began := time.Now()
		err := m.Freeze(ctx)
		cancel()
		st, serr := m.State()
		if err != nil || serr != nil || st != Frozen {
			terr := m.Thaw(context.Background()) // or the cleanup cannot kill the loop
			t.Fatalf("freeze %d: %v after %s; State() = %v, %v (thaw: %v)", i, err, time.Since(began), st, serr, terr)
		}
		if err := m.Thaw(context.Background()); err != nil {
			t.Fatalf("thaw %d: %v", i, err)
		}
	}
}
