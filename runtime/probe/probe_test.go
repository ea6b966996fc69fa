package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

// TestRunLive probes this kernel for real, as root: every namespace is
// created, overlayfs mounts, a seccomp filter bites, pidfds work and a
// detached mount can be idmapped. The development hosts and the test VM
// offer all of these. Afterwards nothing the probes made may remain.
func TestRunLive(t *testing.T) {
	testvm.Require(t, testvm.Root)
	before := snapshot(t)
	f, err := Run(context.Background(), WithUser("root"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	t.Logf("Run() =\n%s", b)

	if len(f.Namespaces) != len(namespaceKinds) {
		t.Errorf("Run() probed %d namespaces, want %d", len(f.Namespaces), len(namespaceKinds))
	}
	for _, ns := range f.Namespaces {
		if !ns.OK {
			t.Errorf("%s", ns.Outcome)
			continue
		}
		// The note names the child's namespace and ours: they differ.
		if !strings.HasPrefix(ns.Note, ns.Type+":[") && !strings.Contains(ns.Note, "ENOENT") {
			t.Errorf("%s: note %q does not name the child's %s namespace", ns.Call, ns.Note, ns.Type)
		}
	}
	for _, o := range []Outcome{f.Overlay, f.Seccomp, f.Pidfd, f.UserNS.Unprivileged} {
		if !o.OK {
			t.Errorf("%s", o)
		}
	}
	// Idmapped mounts work on ext4, xfs and btrfs since 5.12 and on tmpfs
	// since 6.3; elsewhere mount_setattr must fail with EINVAL (the test
	// VM keeps /tmp on tmpfs under 6.1).
	var st unix.Statfs_t
	if err := unix.Statfs(os.TempDir(), &st); err != nil {
		t.Fatal(err)
	}
	maj, min, _ := f.KernelVersion()
	tmpfsOK := maj > 6 || maj == 6 && min >= 3
	if st.Type != unix.TMPFS_MAGIC || tmpfsOK {
		if !f.IDMapped.OK {
			t.Errorf("%s", f.IDMapped)
		}
	} else if f.IDMapped.OK || f.IDMapped.Errno != "EINVAL" {
		t.Errorf("%s: want EINVAL from tmpfs before Linux 6.3", f.IDMapped)
	}
	if f.UserNS.MaxUserNamespaces <= 0 {
		t.Errorf("MaxUserNamespaces = %d, want > 0 on a host that created a user namespace", f.UserNS.MaxUserNamespaces)
	}
	if maj, _, ok := f.KernelVersion(); !ok || maj < 5 {
		t.Errorf("KernelVersion() of %q = %d, %v", f.Kernel, maj, ok)
	}
	if after := snapshot(t); after != before {
		t.Errorf("the probes left something behind:\nbefore: %s\nafter:  %s", before, after)
	}
}

// snapshot is what a leaking probe would change: mounts below this
// process's probe directories, its children, and those directories
// themselves. (Other mounts and directories come and go with other tests
// on the machine.)
func snapshot(t *testing.T) string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mounts, children []string
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, tempPrefix()) {
			mounts = append(mounts, line)
		}
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, c := range tasks {
		b, _ := os.ReadFile(c)
		children = append(children, strings.Fields(string(b))...)
	}
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix()+"*"))
	return fmt.Sprintf("mounts=%q children=%q tempdirs=%q", mounts, children, left)
}

// BenchmarkRun is the cost of asking the kernel everything once: a runtime
// that probes at start pays it on every container start unless it caches.
func BenchmarkRun(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the full probe needs root")
	}
	for b.Loop() {
		if _, err := Run(context.Background(), WithUser("root")); err != nil {
			b.Fatal(err)
		}
	}
}
