package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestStatsAndOOM reads a running container's counters through Stats and
// watches its OOM kills through OOM, as "hull events" does: on the host
// through the v1 driver, in the test VM through the v2 one. A memory hog
// exec'd into the container under a 32 MiB limit is killed by the
// kernel's OOM killer; the container's init (a sleep) lives on, the watch
// reports the kill, and the stats count it.
func TestStatsAndOOM(t *testing.T) {
	e := newTestEnv(t)
	limit, pids := int64(32<<20), int64(20)
	s := e.spec("sleep", "1000")
	s.Linux.Resources = &specs.LinuxResources{
		// memory+swap at the same value: the hog cannot page out where
		// the kernel has swap.
		Memory:  &specs.LinuxMemory{Limit: &limit, Swap: &limit},
		Pids:    &specs.LinuxPids{Limit: &pids},
		Devices: s.Linux.Resources.Devices,
	}
	e.start("stats", s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	st, err := e.rt.Stats(ctx, "stats")
	if err != nil {
		t.Fatal(err)
	}
	// The init exec'd busybox inside the cgroup: it has used CPU time,
	// and the pages of its stack and heap are charged there.
	if st.Pids.Current < 1 || st.Pids.Limit != uint64(pids) {
		t.Errorf("Stats: pids %+v, want current >= 1, limit %d", st.Pids, pids)
	}
	if st.Memory.Usage.Usage == 0 || st.Memory.Usage.Limit != uint64(limit) {
		t.Errorf("Stats: memory usage %+v, want usage > 0, limit %d", st.Memory.Usage, limit)
	}
	if st.CPU.Usage.Total == 0 {
		t.Errorf("Stats: cpu usage %+v, want total > 0", st.CPU.Usage)
	}
	t.Logf("before: pids %+v, memory %+v, cpu total %d ns", st.Pids, st.Memory.Usage, st.CPU.Usage.Total)
	if st.Memory.Events["oom_kill"] != 0 {
		t.Errorf("Stats before the hog: oom_kill = %d, want 0", st.Memory.Events["oom_kill"])
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	ooms, err := e.rt.OOM(watchCtx, "stats")
	if err != nil {
		t.Fatal(err)
	}
	// tail keeps the last line in memory: /dev/zero has no newline.
	if code, out := e.exec("stats", "tail", "/dev/zero"); code != 128+9 {
		t.Fatalf("memory hog ended with %d (%s), want 137: SIGKILL by the OOM killer", code, out)
	}
	select {
	case _, ok := <-ooms:
		if !ok {
			t.Fatal("OOM channel closed without an event")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no OOM event for the killed hog")
	}
	if st, err := e.rt.State(ctx, "stats"); err != nil || st.Status != Running {
		t.Errorf("after the OOM kill the container is %v (%v), want running: the hog was the victim, not the init", st, err)
	}
	st, err = e.rt.Stats(ctx, "stats")
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Events["oom_kill"] < 1 {
		t.Errorf("Stats after the hog: oom_kill = %d, want >= 1 (events %v)", st.Memory.Events["oom_kill"], st.Memory.Events)
	}
	t.Logf("after: memory %+v, events %v", st.Memory.Usage, st.Memory.Events)
	// The peak stays at the limit (v2 without memory.peak reports 0).
	if st.Memory.Usage.Max > uint64(limit) {
		t.Errorf("Stats: peak memory %d above the limit %d", st.Memory.Usage.Max, limit)
	}
	stopWatch()
	for range ooms { // the watch ends with its context
	}

	// Once the container is gone its counters are too.
	if err := e.rt.Kill(ctx, "stats", unix.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e.rt, "stats", Stopped)
	if _, err := e.rt.Stats(ctx, "stats"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Stats of a stopped container: %v, want ErrNotRunning", err)
	}
}
