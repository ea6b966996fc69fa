package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestV1SetChecksFirst: a bad field fails Set before anything is written.
func TestV1SetChecksFirst(t *testing.T) {
	m := newManager(t, hostV1(t))
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}}); err != nil {
		t.Fatal(err)
	}
	err := m.Set(&specs.LinuxResources{
		Pids:   &specs.LinuxPids{Limit: ptr(int64(10))},
		Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(500))},
	})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.memory.swappiness") {
		t.Fatalf("Set with swappiness 500: %v", err)
	}
	if got, _ := readFile(m.Paths()["pids"], "pids.max"); got != "5" {
		t.Errorf("pids.max = %q after a failed Set, want 5 (nothing written)", got)
	}
}

// TestV1HybridHugetlb: on a hybrid host whose hugetlb controller is bound
// to cgroup2, the v1 driver writes the limit on the cgroup2 side.
func TestV1HybridHugetlb(t *testing.T) {
	h := hostV1(t)
	sizes := hugePageSizes()
	if _, v1 := h.V1["hugetlb"]; v1 || !slices.Contains(h.Delegated, "hugetlb") || len(sizes) == 0 {
		t.Skip("hugetlb is not on the cgroup2 side of this host")
	}
	restoreSubtreeControl(t, h.SelfDir(""))
	m := newManager(t, h)
	err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: sizes[0], Limit: 4 << 21}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readFile(m.Paths()[""], "hugetlb."+sizes[0]+".max"); got != strconv.Itoa(4<<21) {
		t.Errorf("hugetlb.%s.max = %q, want %d", sizes[0], got, 4<<21)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Hugetlb[sizes[0]]; !ok {
		t.Errorf("stats: no hugetlb %s entry: %+v", sizes[0], st.Hugetlb)
	}
}

// TestV2CoreNoInternalProcesses: enabling a controller above a cgroup
// that holds a process fails with EBUSY, and the error says why.
func TestV2CoreNoInternalProcesses(t *testing.T) {
	h := hostV2Core(t)
	sizes := hugePageSizes()
	if !slices.Contains(h.Delegated, "hugetlb") || len(sizes) == 0 {
		t.Skip("no hugetlb controller on the cgroup2 side")
	}
	restoreSubtreeControl(t, h.SelfDir(""))
	m := newManager(t, h) // <test>/ctr: the parent is the test's own
	parent := filepath.Dir(m.Paths()[""])
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	if err := writeFile(parent, "cgroup.procs", strconv.Itoa(sleeper.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: sizes[0], Limit: 1 << 21}}})
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "no-internal-processes") {
		t.Fatalf("Set with a process in the parent: %v, want EBUSY explained", err)
	}
}

// testSetAll applies a broad resources block on a real kernel and reads
// every file back: the golden plans pin what hull means to write, this
// pins that the kernel takes it.
func testSetAll(t *testing.T, h *Host, r *specs.LinuxResources) {
	m := newManager(t, h)
	// On v2 the memory controller's files appear once it is enabled.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))}}); err != nil {
		t.Fatal(err)
	}
	if !probe(m.Paths(), nil).Swap && r.Memory != nil {
		r.Memory.Swap = nil // this kernel does not account swap
	}
	start(t, m, h.Mode == Unified, "sleep 60") // limits on a populated cgroup
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	p, err := m.Plan(r)
	if err != nil {
		t.Fatal(err)
	}
	writeOnly := map[string]bool{"devices.allow": true, "devices.deny": true}
	last := map[string]int{} // a file written twice holds the last value
	for i, w := range p.Writes {
		last[w.Hierarchy+":"+w.File] = i
	}
	for i, w := range p.Writes {
		if writeOnly[w.File] || last[w.Hierarchy+":"+w.File] != i {
			continue
		}
		got, err := readFile(m.Paths()[w.Hierarchy], w.File)
		if err != nil {
			t.Errorf("%s: %v", w, err)
			continue
		}
		want := w.Value
		switch w.File {
		case "memory.oom_control":
			want = "oom_kill_disable " + w.Value
		}
		if !strings.Contains(got, want) {
			t.Errorf("%s: reads back %q", w, got)
		}
	}
}

func TestV1SetAll(t *testing.T) {
	h := hostV1(t)
	limit, swap := int64(256<<20), int64(512<<20)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap, Reservation: ptr(int64(128 << 20)), Swappiness: ptr(uint64(10)), DisableOOMKiller: ptr(false)},
		CPU: &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Burst: ptr(uint64(10000)),
			Idle: ptr(int64(0)), Cpus: "0", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(50))},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(300))},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"}},
	}
	if h.Unified != "" {
		r.Unified = map[string]string{"cgroup.max.descendants": "5"} // on the cgroup2 side
	}
	if slices.Contains(hugePageSizes(), "2MB") && slices.Contains(h.Delegated, "hugetlb") {
		restoreSubtreeControl(t, h.SelfDir(""))
		r.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}}
	}
	testSetAll(t, h, r)
}

func TestV2SetAll(t *testing.T) {
	h := hostV2(t)
	limit, swap := int64(256<<20), int64(512<<20)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap, Reservation: ptr(int64(128 << 20))},
		CPU: &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Burst: ptr(uint64(10000)),
			Idle: ptr(int64(0)), Cpus: "0", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(50))},
		Unified: map[string]string{"memory.high": "201326592", "cgroup.max.descendants": "5"},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"}},
	}
	if slices.Contains(hugePageSizes(), "2MB") { // limits round down to whole pages
		r.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}}
	}
	testSetAll(t, h, r)
}

// BenchmarkLifecycle is what a container's cgroup costs hull: New, Create,
// Set (memory, cpu, pids and the usual device list), Destroy.
func BenchmarkLifecycle(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	h, err := DetectHost("/")
	if err != nil {
		b.Fatal(err)
	}
	limit := int64(256 << 20)
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &limit},
		CPU:     &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000))},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(100))},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"}},
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		m, err := New(h, Config{Path: fmt.Sprintf("hullbench-%d-%d", os.Getpid(), i)})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Create(); err != nil {
			b.Fatal(err)
		}
		if err := m.Set(r); err != nil {
			// Remove the cgroup before giving up (TestMain checks that
			// none is left), and say if that failed too.
			b.Fatal(errors.Join(err, m.Destroy(ctx)))
		}
		if err := m.Destroy(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
