package cgroups

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Updates under a process that keeps running: the new limit applies to
// it, not only to processes started after the update.

// testUpdateMemoryLive lowers the memory limit under a process that keeps
// allocating. It grows, 1 MiB every 20 ms, far below its first limit of
// 512 MiB; then the limit comes down to 32 MiB above what it uses, and the
// kernel OOM-kills it when it reaches that: the peak stays below the new
// limit, and the OOM watch reports the kill.
//
// The new limit is above the current usage because the drivers differ
// below it: v1 refuses (EBUSY, memory it cannot reclaim), v2 OOM-kills
// at once.
func testUpdateMemoryLive(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))}}); err != nil {
		t.Fatal(err) // enables the memory controller on v2, so that probe sees its files
	}
	swap := probe(m.Paths(), nil).Swap
	limit := func(n int64) *specs.LinuxResources {
		mem := &specs.LinuxMemory{Limit: &n}
		if swap {
			mem.Swap = &n // no swap: the process cannot page out
		}
		return &specs.LinuxResources{Memory: mem}
	}
	const first = 512 << 20
	if err := m.Set(limit(first)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	ooms, err := m.OOM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// tail keeps the line it reads in memory: /dev/zero has no newline.
	// When tail dies, head fails on the broken pipe and the loop ends.
	p := start(t, m, v2, `while head -c 1048576 /dev/zero; do sleep 0.02; done | tail; echo "tail exit $?"`)
	var usage uint64
	eventually(t, "the process to grow to 16 MiB", func() bool {
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		usage = st.Memory.Usage.Usage
		return usage >= 16<<20
	})
	select {
	case <-p.done:
		t.Fatalf("the process ended under the first limit: %v, output %q", p.err, p.output())
	default:
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Memory.Events["oom_kill"]; n != 0 {
		t.Fatalf("oom_kill = %d under the first limit", n)
	}
	lowered := int64(usage+32<<20) &^ (1<<20 - 1)
	if err := m.Set(limit(lowered)); err != nil {
		t.Fatalf("lower the limit from %d to %d under a process using %d: %v", first, lowered, usage, err)
	}
	if err := p.wait(t); err != nil || !strings.Contains(p.output(), "tail exit 137") {
		t.Fatalf("after lowering the limit: %v, output %q; want tail killed (exit 137)", err, p.output())
	}
	waitOOM(t, ooms)
	if st, err = m.Stats(); err != nil {
		t.Fatal(err)
	}
	if st.Memory.Events["oom_kill"] < 1 || st.Memory.Usage.Limit != uint64(lowered) {
		t.Errorf("stats: oom_kill %d, limit %d; want >= 1, %d", st.Memory.Events["oom_kill"], st.Memory.Usage.Limit, lowered)
	}
	// The peak (v1's max_usage_in_bytes, v2's memory.peak) shows that the
	// process never got past the new limit.
	if st.Memory.Usage.Max == 0 || st.Memory.Usage.Max > uint64(lowered) {
		t.Errorf("peak usage %d, want 1..%d (the lowered limit)", st.Memory.Usage.Max, lowered)
	}
	t.Logf("usage %d MiB when the limit came down from %d to %d MiB; peak %d MiB", usage>>20, first>>20, lowered>>20, st.Memory.Usage.Max>>20)
}

// testUpdateCPULive changes the CFS quota under a process that spins all
// along: without a quota it is never throttled however much it runs; with
// 10 ms per 100 ms period it is; with the quota lifted again it is not
// throttled any more.
func testUpdateCPULive(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	quota := func(q int64) *specs.LinuxResources {
		return &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &q, Period: ptr(uint64(100000))}}
	}
	if err := m.Set(quota(-1)); err != nil { // no quota; on v2 this enables the cpu controller
		t.Fatal(err)
	}
	stats := func() *Stats {
		t.Helper()
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// window reads the counters over 500 ms (five periods) of spinning.
	window := func() (before, after *Stats) {
		t.Helper()
		before = stats()
		time.Sleep(500 * time.Millisecond)
		return before, stats()
	}
	start(t, m, v2, "while :; do :; done")
	eventually(t, "the loop to run", func() bool { return stats().CPU.Usage.Total > 0 })

	before, after := window()
	if after.CPU.Usage.Total <= before.CPU.Usage.Total || after.CPU.Throttling.ThrottledPeriods != 0 {
		t.Fatalf("without a quota: cpu %d → %d ns, %d throttled periods; want it running and never throttled",
			before.CPU.Usage.Total, after.CPU.Usage.Total, after.CPU.Throttling.ThrottledPeriods)
	}

	if err := m.Set(quota(10000)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "throttled periods under the new quota", func() bool { return stats().CPU.Throttling.ThrottledPeriods > 0 })
	throttled := stats().CPU.Throttling

	if err := m.Set(quota(-1)); err != nil {
		t.Fatal(err)
	}
	// Lifting the quota unthrottles at once; a period counted as the
	// write lands is allowed for.
	time.Sleep(200 * time.Millisecond)
	before, after = window()
	if after.CPU.Usage.Total <= before.CPU.Usage.Total || after.CPU.Throttling.ThrottledPeriods != before.CPU.Throttling.ThrottledPeriods {
		t.Errorf("after lifting the quota: cpu %d → %d ns, throttled periods %d → %d; want it running and no longer throttled",
			before.CPU.Usage.Total, after.CPU.Usage.Total, before.CPU.Throttling.ThrottledPeriods, after.CPU.Throttling.ThrottledPeriods)
	}
	t.Logf("under the quota: %+v; after lifting it: %+v", throttled, after.CPU.Throttling)
}

func TestV1UpdateMemoryLive(t *testing.T) { testUpdateMemoryLive(t, hostV1(t), false) }
func TestV1UpdateCPULive(t *testing.T)    { testUpdateCPULive(t, hostV1(t), false) }
func TestV2UpdateMemoryLive(t *testing.T) { testUpdateMemoryLive(t, hostV2(t), true) }
func TestV2UpdateCPULive(t *testing.T)    { testUpdateCPULive(t, hostV2(t), true) }

// testUpdateMemoryBelowUsage lowers the memory limit below what a running
// process holds (32 MiB, which it cannot give back: there is no swap for
// it). The drivers differ, as the kernels do: v1's memory.limit_in_bytes
// refuses with EBUSY and the limits stay as they were; v2's memory.max
// takes the value and OOM-kills the process.
func testUpdateMemoryBelowUsage(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))}}); err != nil {
		t.Fatal(err)
	}
	swap := probe(m.Paths(), nil).Swap
	limit := func(n int64) *specs.LinuxResources {
		mem := &specs.LinuxMemory{Limit: &n}
		if swap {
			mem.Swap = &n
		}
		return &specs.LinuxResources{Memory: mem}
	}
	const first, lowered = 256 << 20, 8 << 20
	if err := m.Set(limit(first)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	ooms, err := m.OOM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// tail holds the 32 MiB line until its input ends, which is never:
	// a byte every 100 ms, until the pipe breaks when tail dies.
	p := start(t, m, v2, `{ head -c 33554432 /dev/zero; while sleep 0.1; do printf 0; done; } | tail; echo "tail exit $?"`)
	eventually(t, "the process to hold 32 MiB", func() bool {
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.Memory.Usage.Usage >= 32<<20
	})
	err = m.Set(limit(lowered))
	st, serr := m.Stats()
	if serr != nil {
		t.Fatal(serr)
	}
	if !v2 {
		if !errors.Is(err, unix.EBUSY) {
			t.Fatalf("v1: lowering the limit to %d under 32 MiB in use: %v, want EBUSY", lowered, err)
		}
		select {
		case <-p.done:
			t.Fatalf("v1: the process ended: %v, output %q", p.err, p.output())
		default:
		}
		// A refused update leaves the limits as they were.
		if st.Memory.Usage.Limit != first || (swap && st.Memory.Swap.Limit != first) {
			t.Errorf("v1: after the refused update the limits are memory %d, memory+swap %d; want both %d",
				st.Memory.Usage.Limit, st.Memory.Swap.Limit, first)
		}
		return
	}
	if err != nil {
		t.Fatalf("v2: lowering memory.max to %d under 32 MiB in use: %v", lowered, err)
	}
	// The kernel kills until the cgroup fits: tail, and at times the
	// shell too. Either way the script ends.
	err = p.wait(t)
	var ee *exec.ExitError
	if (err != nil || !strings.Contains(p.output(), "tail exit 137")) &&
		!(errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL) {
		t.Fatalf("v2: after lowering memory.max below the usage: %v, output %q; want tail killed (exit 137), or the shell", err, p.output())
	}
	waitOOM(t, ooms)
	if st, err = m.Stats(); err != nil {
		t.Fatal(err)
	}
	if st.Memory.Usage.Limit != lowered || st.Memory.Usage.Usage > lowered || st.Memory.Events["oom_kill"] < 1 {
		t.Errorf("v2: memory %+v, oom_kill %d; want limit %d, usage below it, oom_kill >= 1", st.Memory.Usage, st.Memory.Events["oom_kill"], lowered)
	}
}

func TestV1UpdateMemoryBelowUsage(t *testing.T) { testUpdateMemoryBelowUsage(t, hostV1(t), false) }
func TestV2UpdateMemoryBelowUsage(t *testing.T) { testUpdateMemoryBelowUsage(t, hostV2(t), true) }
