package cgroups

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests below run real workloads in real cgroups. Three kinds of host:
//
//	hostV1      the v1 driver: hybrid/legacy hosts (the development machines)
//	hostV2      the v2 driver with every controller: the test VM
//	hostV2Core  the v2 driver on whatever cgroup2 mount there is: on a
//	            hybrid host the near-empty /sys/fs/cgroup/unified, which
//	            still has the core files (cgroup.freeze, cgroup.kill,
//	            cgroup.procs) and takes device filter programs
//
// Every test cgroup is below this process's own cgroup, and the cleanup
// asserts that none is left.

func hostV1(t *testing.T) *Host {
	t.Helper()
	testvm.Require(t, testvm.Root|testvm.CgroupV1)
	h, err := DetectHost("/")
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode == Unified {
		t.Skip("unified host: the v1 driver runs on hybrid and legacy hosts")
	}
	return h
}

func hostV2(t *testing.T) *Host {
	t.Helper()
	testvm.Require(t, testvm.Root|testvm.CgroupV2)
	h, err := DetectHost("/")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func hostV2Core(t *testing.T) *Host {
	t.Helper()
	testvm.Require(t, testvm.Root)
	h, err := DetectHost("/")
	if err != nil {
		t.Fatal(err)
	}
	if h.Unified == "" {
		t.Skip("no cgroup2 mount")
	}
	v2 := *h
	v2.Mode = Unified
	return &v2
}

// newManager creates a cgroup for the test and registers the cleanup
// that kills what is left, destroys it and checks that nothing remains.
// On v2 the container's cgroup gets a parent of its own (the test's
// process may sit in the root cgroup, which cannot take part in
// controller delegation below a cgroup holding processes).
func newManager(t *testing.T, h *Host) Manager {
	t.Helper()
	name := fmt.Sprintf("hulltest-%s-%x", strings.ReplaceAll(filepath.Base(t.Name()), "/", "-"), rand.Uint32())
	path := name
	parent := ""
	if h.Mode == Unified {
		path = name + "/ctr"
		parent = filepath.Join(h.SelfDir(""), name)
	}
	m, err := New(h, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Kill(ctx, unix.SIGKILL); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Kill: %v", err)
		}
		if err := m.Destroy(ctx); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		if parent != "" {
			// Create made it, so Destroy removed it.
			if _, err := os.Stat(parent); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the test's parent cgroup %s left behind (%v)", parent, err)
			}
		}
		for c, d := range m.Paths() {
			if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("cgroup %q left behind at %s (%v)", c, d, err)
			}
		}
		if err := m.Destroy(ctx); err != nil {
			t.Errorf("second Destroy: %v", err)
		}
	})
	return m
}

// restoreSubtreeControl turns off again, when the test ends, the
// controllers that it turns on in dir's cgroup.subtree_control: on the
// development hosts that is the root of the shared cgroup2 mount.
func restoreSubtreeControl(t *testing.T, dir string) {
	t.Helper()
	before, err := readFile(dir, "cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		after, err := readFile(dir, "cgroup.subtree_control")
		if err != nil {
			t.Error(err)
			return
		}
		for _, c := range strings.Fields(after) {
			if !slices.Contains(strings.Fields(before), c) {
				if err := writeFile(dir, "cgroup.subtree_control", "-"+c); err != nil {
					t.Errorf("turn %s off again in %s: %v", c, dir, err)
				}
			}
		}
	})
}

// proc is a shell script running in a test cgroup.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	err  error // from Wait
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs script with sh in the cgroup. The shell waits for a line on
// its stdin before it runs the script, and gets it once it is inside.
// On v2, clone3's CLONE_INTO_CGROUP puts it there from birth.
func start(t *testing.T, m Manager, v2 bool, script string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command("/bin/sh", "-c", "read _; "+script)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.WaitDelay = 5 * time.Second
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if v2 {
		dir, err := m.OpenUnified()
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		p.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		// Kill the whole cgroup: background children hold the output
		// pipe open, and Wait waits for it.
		m.Kill(context.Background(), unix.SIGKILL)
		p.cmd.Process.Kill()
		<-p.done
	})
	if !v2 {
		if err := m.Apply(p.cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	return p
}

// wait waits for the script to end, failing the test after a generous
// bound (not a timing assertion: a hang).
func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(30 * time.Second):
		t.Fatalf("process %d still running; output %q", p.cmd.Process.Pid, p.output())
		return nil
	}
}

// eventually polls cond until it holds, failing after a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cpuTicks is utime+stime of a process from /proc/PID/stat.
func cpuTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces: fields start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s
}

func ptr[T any](v T) *T { return &v }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ---- the behaviours, each run by the drivers that can -----------------

func testOOM(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	limit := int64(32 << 20)
	mem := &specs.LinuxMemory{Limit: &limit}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))}}); err != nil {
		t.Fatal(err) // enables the memory controller on v2, so that probe sees its files
	}
	if probe(m.Paths(), nil).Swap {
		mem.Swap = &limit // no swap: the hog must not page out
	}
	if err := m.Set(&specs.LinuxResources{Memory: mem}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	ooms, err := m.OOM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// tail keeps the last line in memory: /dev/zero has no newline.
	p := start(t, m, v2, "exec tail /dev/zero")
	err = p.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("memory hog ended with %v, want SIGKILL by the OOM killer; output %q", err, p.output())
	}
	waitOOM(t, ooms)
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Events["oom_kill"] < 1 {
		t.Errorf("stats: oom_kill = %d, want >= 1 (events %v)", st.Memory.Events["oom_kill"], st.Memory.Events)
	}
	cancel()
	for range ooms { // the watcher ends when ctx does
	}
}

// testOOMWatchEnds: the OOM channel closes when the cgroup goes away.
func testOOMWatchEnds(t *testing.T, h *Host) {
	m := newManager(t, h)
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}}); err != nil {
		t.Fatal(err)
	}
	ooms, err := m.OOM(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ooms:
		if ok {
			t.Error("an OOM event from an empty cgroup")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the OOM channel is still open after the cgroup was removed")
	}
}

// testDestroyBusy: Destroy does not kill; with a process inside it gives
// up when ctx ends, says which processes hold the cgroup, and leaves the
// cgroup whole.
func testDestroyBusy(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	p := start(t, m, v2, "exec sleep 60")
	eventually(t, "the sleep", func() bool { pids, _ := m.Pids(); return len(pids) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := m.Destroy(ctx)
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(p.cmd.Process.Pid)) || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("Destroy of a busy cgroup: %v; want EBUSY naming pid %d", err, p.cmd.Process.Pid)
	}
	for c, d := range m.Paths() {
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err != nil {
			t.Errorf("after a failed Destroy the %q cgroup is damaged: %v", c, err)
		}
	}
}

func testPids(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(4))}}); err != nil {
		t.Fatal(err)
	}
	p := start(t, m, v2, `i=0; while [ $i -lt 10 ]; do sleep 30 & i=$((i+1)); done; wait`)
	// dash reports "Cannot fork" and gives up on the loop.
	eventually(t, "a fork to fail", func() bool { return strings.Contains(strings.ToLower(p.output()), "fork") })
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) > 4 {
		t.Errorf("%d processes in the cgroup, limit 4: %v", len(pids), pids)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current == 0 || st.Pids.Current > 4 || st.Pids.Limit != 4 {
		t.Errorf("stats pids = %+v, want 1..4 current, limit 4", st.Pids)
	}
}

func testCPUQuota(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(10000)), Period: ptr(uint64(100000))}}); err != nil {
		t.Fatal(err)
	}
	start(t, m, v2, "while :; do :; done")
	eventually(t, "throttled periods", func() bool {
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.CPU.Throttling.ThrottledPeriods > 0 && st.CPU.Usage.Total > 0
	})
}

func testDevices(t *testing.T, h *Host, v2 bool) {
	// Device nodes of our own, on a fresh tmpfs: /tmp may be mounted
	// nodev (it is in the test VM), and the host's /dev is not ours.
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}} {
		if err := unix.Mknod(filepath.Join(dir, n.name), unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatal(err)
		}
	}
	m := newManager(t, h)
	err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rw"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, m, v2, fmt.Sprintf(`
		if head -c 1 %[1]s/null; then echo null-allowed; fi
		if head -c 1 %[1]s/zero >/dev/null; then echo zero-allowed; else echo zero-denied; fi
		if mknod %[1]s/n2 c 1 3 2>/dev/null; then echo mknod-allowed; else echo mknod-denied; fi`, dir))
	if err := p.wait(t); err != nil {
		t.Fatalf("%v: %s", err, p.output())
	}
	out := p.output()
	for _, want := range []string{"null-allowed", "zero-denied", "mknod-denied"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if !strings.Contains(out, "Operation not permitted") {
		t.Errorf("output %q: want EPERM from the denied open", out)
	}

	// Update: allow zero too, and the same process tree sees it.
	err = m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Access: "rw"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	p = start(t, m, v2, fmt.Sprintf(`if head -c 1 %s/zero >/dev/null; then echo zero-allowed; fi`, dir))
	p.wait(t)
	if !strings.Contains(p.output(), "zero-allowed") {
		t.Errorf("after update: output %q, want zero-allowed", p.output())
	}
}

func testFreeze(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	p := start(t, m, v2, "while :; do :; done")
	pid := p.cmd.Process.Pid
	ctx := ctxT(t)
	eventually(t, "the loop to run", func() bool { return cpuTicks(t, pid) > 0 })
	if err := m.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := m.State(); err != nil || st != Frozen {
		t.Fatalf("State() = %v, %v; want FROZEN", st, err)
	}
	before := cpuTicks(t, pid)
	time.Sleep(300 * time.Millisecond) // 30 ticks of a busy loop, were it running
	if after := cpuTicks(t, pid); after != before {
		t.Errorf("frozen process used CPU: %d → %d ticks", before, after)
	}
	if err := m.Thaw(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := m.State(); err != nil || st != Thawed {
		t.Fatalf("State() = %v, %v; want THAWED", st, err)
	}
	eventually(t, "the thawed loop to run", func() bool { return cpuTicks(t, pid) > before })
}

func testKill(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	// Two sleeps that die of SIGTERM, and one that ignores it (an ignored
	// signal stays ignored across exec).
	start(t, m, v2, "sleep 60 & sleep 60 & trap '' TERM; exec sleep 61")
	eventually(t, "three sleeps", func() bool {
		pids, _ := m.Pids()
		n := 0
		for _, pid := range pids {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "sleep\n" {
				n++
			}
		}
		return n == 3
	})
	ctx := ctxT(t)
	if err := m.Kill(ctx, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two sleeps to die", func() bool { pids, _ := m.Pids(); return len(pids) == 1 })
	if st, _ := m.State(); st != Thawed {
		t.Errorf("after Kill the cgroup is %s, want THAWED", st)
	}
	if err := m.Kill(ctx, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cgroup to empty", func() bool { pids, _ := m.Pids(); return len(pids) == 0 })
}

func testUpdate(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(1))}}); err != nil {
		t.Fatal(err)
	}
	// The shell alone fills the limit: it cannot fork a pipeline.
	const script = "echo x | cat"
	p := start(t, m, v2, script)
	if err := p.wait(t); err == nil || !strings.Contains(strings.ToLower(p.output()), "fork") {
		t.Fatalf("under pids.max 1: %v, output %q; want a fork failure", err, p.output())
	}
	// Raise the limit of the same cgroup: now it can.
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}}); err != nil {
		t.Fatal(err)
	}
	p = start(t, m, v2, script)
	if err := p.wait(t); err != nil || p.output() != "x\n" {
		t.Fatalf("after raising the limit: %v, output %q", err, p.output())
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Limit != 10 {
		t.Errorf("stats: pids limit %d, want 10", st.Pids.Limit)
	}
}

func testStats(t *testing.T, h *Host, v2 bool) {
	m := newManager(t, h)
	limit := int64(256 << 20)
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, Pids: &specs.LinuxPids{Limit: ptr(int64(100))}}); err != nil {
		t.Fatal(err)
	}
	// Touch some memory and burn some CPU, then wait.
	start(t, m, v2, "head -c 8000000 /dev/zero | tail -c 1 >/dev/null; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 60")
	eventually(t, "CPU time", func() bool {
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.CPU.Usage.Total > 0 && st.Memory.Usage.Usage > 0 && st.Pids.Current > 0
	})
	st, _ := m.Stats()
	// The JSON is runc's "events --stats" data.
	b, err := json.Marshal(&Event{Type: "stats", ID: "test", Data: st})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Type string
		Data struct {
			CPU struct {
				Usage struct{ Total uint64 }
			}
			Memory struct {
				Usage struct{ Usage, Limit uint64 }
				Raw   map[string]uint64
			}
			Pids    struct{ Current uint64 }
			Blkio   map[string]any
			Hugetlb map[string]any
		}
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "stats" || ev.Data.CPU.Usage.Total == 0 || ev.Data.Memory.Usage.Usage == 0 || ev.Data.Pids.Current == 0 || ev.Data.Hugetlb == nil {
		t.Errorf("stats JSON lacks real numbers: %s", b)
	}
	if st.Memory.Usage.Limit != uint64(limit) {
		t.Errorf("memory limit %d, want %d", st.Memory.Usage.Limit, limit)
	}
	if len(st.Memory.Raw) == 0 {
		t.Error("no memory.stat")
	}
	t.Logf("cpu %+v memory usage %+v pids %+v", st.CPU.Usage, st.Memory.Usage, st.Pids)
}

// ---- the v1 driver on the host ------------------------------------------

func TestV1OOM(t *testing.T) { testOOM(t, hostV1(t), false) }

// TestV1LegacyKill: without a cgroup2 side there is no cgroup.kill, so
// SIGKILL goes through the v1 freezer, one process at a time.
func TestV1LegacyKill(t *testing.T) {
	h := *hostV1(t)
	h.Mode, h.Unified = Legacy, ""
	testKill(t, &h, false)
}

func TestV1DestroyBusy(t *testing.T)  { testDestroyBusy(t, hostV1(t), false) }
func TestV1OOMWatchEnds(t *testing.T) { testOOMWatchEnds(t, hostV1(t)) }
func TestV1Pids(t *testing.T)         { testPids(t, hostV1(t), false) }
func TestV1CPUQuota(t *testing.T)     { testCPUQuota(t, hostV1(t), false) }
func TestV1Devices(t *testing.T)      { testDevices(t, hostV1(t), false) }
func TestV1Freeze(t *testing.T)       { testFreeze(t, hostV1(t), false) }
func TestV1Kill(t *testing.T)         { testKill(t, hostV1(t), false) }
func TestV1Update(t *testing.T)       { testUpdate(t, hostV1(t), false) }
func TestV1Stats(t *testing.T)        { testStats(t, hostV1(t), false) }

// ---- the v2 driver's core, on any cgroup2 mount ----------------------------

func TestV2CoreDevices(t *testing.T)     { testDevices(t, hostV2Core(t), true) }
func TestV2CoreFreeze(t *testing.T)      { testFreeze(t, hostV2Core(t), true) }
func TestV2CoreDestroyBusy(t *testing.T) { testDestroyBusy(t, hostV2Core(t), true) }
func TestV2CoreKill(t *testing.T)        { testKill(t, hostV2Core(t), true) }

// ---- the v2 driver with every controller: the test VM ------------------------

func TestV2OOM(t *testing.T)          { testOOM(t, hostV2(t), true) }
func TestV2OOMWatchEnds(t *testing.T) { testOOMWatchEnds(t, hostV2(t)) }
func TestV2Pids(t *testing.T)         { testPids(t, hostV2(t), true) }
func TestV2CPUQuota(t *testing.T)     { testCPUQuota(t, hostV2(t), true) }
func TestV2Devices(t *testing.T)      { testDevices(t, hostV2(t), true) }
func TestV2Freeze(t *testing.T)       { testFreeze(t, hostV2(t), true) }
func TestV2Kill(t *testing.T)         { testKill(t, hostV2(t), true) }
func TestV2Update(t *testing.T)       { testUpdate(t, hostV2(t), true) }
func TestV2Stats(t *testing.T)        { testStats(t, hostV2(t), true) }

// waitOOM fails the test unless an OOM event arrives on ooms within 20 s.
func waitOOM(t *testing.T, ooms <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ooms:
		if !ok {
			t.Fatal("OOM channel closed without an event")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no OOM event")
	}
}
