package hull

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

// TestCheckHost runs the real check on a development or CI host (root, v1
// cgroups, no /dev/kvm) and holds its report against what the test sees
// for itself: the filesystem type of the cgroup mounts, the CPU flags the
// kernel lists, whether /dev/kvm exists, each /proc/self/ns entry.
func TestCheckHost(t *testing.T) {
	testvm.Require(t, testvm.Root|testvm.CgroupV1)
	r, err := Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range r.Items {
		t.Log(it)
	}

	// cgroups: v1 hierarchies (the test's Require) and a cgroup2 mount
	// next to them make a hybrid host; without one it is legacy.
	var st unix.Statfs_t
	wantMode := "legacy"
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		wantMode = "hybrid"
	}
	if r.CgroupMode != wantMode {
		t.Errorf("CgroupMode = %q, want %q", r.CgroupMode, wantMode)
	}
	if it, _ := r.Item(SectionCgroups, "mode"); it.Status != Degraded || !strings.HasPrefix(it.Detail, wantMode+":") || !strings.Contains(it.Remedy, "systemd.unified_cgroup_hierarchy=1") {
		t.Errorf("cgroups/mode = %s, want degraded %s with the unified-hierarchy remedy", it, wantMode)
	}

	// Containers run here: every namespace this kernel lists is created.
	if !r.Containers.OK {
		t.Errorf("containers cannot run: %v", r.Containers.Blockers)
	}
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"} {
		if _, err := os.Lstat("/proc/self/ns/" + ns); err != nil {
			continue
		}
		if it, ok := r.Item(SectionNamespaces, ns); !ok || it.Status != OK {
			t.Errorf("namespaces/%s = %s, want ok: /proc/self/ns/%s exists", ns, it, ns)
		}
	}

	// KVM: without /dev/kvm micro-VMs cannot run, and the report must say
	// why: the extension missing from CPUID (the kernel lists neither vmx
	// nor svm) or the device missing.
	if _, err := os.Stat("/dev/kvm"); err == nil {
		t.Skip("this host has /dev/kvm; the KVM half of this test is for hosts without it")
	}
	if r.VMs.OK {
		t.Errorf("micro-VMs can run without /dev/kvm")
	}
	if it, _ := r.Item(SectionKVM, "device"); it.Status != Missing || !strings.Contains(it.Detail, "stat(/dev/kvm): no such file") || it.Remedy == "" {
		t.Errorf("kvm/device = %s, want missing, no such file, with a remedy", it)
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	flags := " " + strings.Join(strings.Fields(string(cpuinfo)), " ") + " "
	if !strings.Contains(flags, " vmx ") && !strings.Contains(flags, " svm ") {
		it, _ := r.Item(SectionCPU, "extension")
		if it.Status != Missing || !strings.Contains(it.Detail, "clear") || !it.Blocks(ForVMs) {
			t.Errorf("virtualization/extension = %s, want missing: the kernel lists neither vmx nor svm", it)
		}
	}
}

// TestRecordReplay records this machine and replays it: the replayed
// report has the same items with the same statuses, and Record refuses to
// write into a directory that exists.
func TestRecordReplay(t *testing.T) {
	testvm.Require(t, testvm.Root)
	dir := filepath.Join(t.TempDir(), "machine")
	ctx := context.Background()
	if err := Record(ctx, dir); err != nil {
		t.Fatal(err)
	}
	live, err := Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := Check(ctx, WithFixture(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(live.Items) != len(replayed.Items) {
		t.Fatalf("replay has %d items, live %d", len(replayed.Items), len(live.Items))
	}
	for i := range live.Items {
		l, r := live.Items[i], replayed.Items[i]
		if l.Section != r.Section || l.Name != r.Name || l.Status != r.Status {
			t.Errorf("item %d: live %s, replayed %s", i, l, r)
		}
	}
	if live.CgroupMode != replayed.CgroupMode || live.Containers.OK != replayed.Containers.OK || live.VMs.OK != replayed.VMs.OK {
		t.Errorf("verdicts differ: live %+v, replayed %+v", live, replayed)
	}
	if err := Record(ctx, dir); !os.IsExist(err) {
		t.Errorf("Record into an existing directory = %v, want EEXIST", err)
	}

	// A cancelled recording leaves no half-written machine behind.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	again := filepath.Join(t.TempDir(), "cancelled")
	if err := Record(cancelled, again); err == nil {
		t.Fatal("Record with a cancelled context succeeded")
	}
	if _, err := os.Stat(again); !os.IsNotExist(err) {
		t.Errorf("a cancelled Record left %s behind (%v)", again, err)
	}
}
