package hull

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/runtime/probe"
)

var update = flag.Bool("update", false, "rewrite testdata/check/*/report.json and report.txt from the current evaluation")

// want is what one item of a fixture's report must say.
type want struct {
	section, name string
	status        Status
	detail        string // a substring of Detail
	remedy        string // a substring of Remedy
}

// TestCheckFixtures replays recorded machines (testdata/check/README.md
// says where each comes from) and checks the verdicts, the items that
// decide them, and the whole report against a golden file.
func TestCheckFixtures(t *testing.T) {
	for _, tc := range []struct {
		fixture        string
		mode           string
		containers, vm bool
		hypervisor     string
		items          []want
	}{
		{"bhyve-epyc-hybrid", "hybrid", true, false, "bhyve", []want{
			{SectionCgroups, "mode", Degraded, "hybrid: v1 hierarchies", "systemd.unified_cgroup_hierarchy=1"},
			{SectionCPU, "extension", Missing, "CPUID 0x80000001 ECX bit 2 (SVM): clear", "nested virtualization"},
			{SectionKVM, "device", Missing, "stat(/dev/kvm): no such file", "AMD-V (SVM)"},
			{SectionNamespaces, "time", OK, "clone(CLONE_NEWTIME): ok", ""},
			{SectionUserNamespaces, "newuidmap", Degraded, "not found", "apt-get install uidmap"},
		}},
		{"intel-vtx-unified", "unified", true, true, "", []want{
			{SectionCPU, "extension", OK, "CPUID 1 ECX bit 5 (VMX): set", ""},
			{SectionCPU, "firmware", OK, "IA32_FEATURE_CONTROL (0x3a) = 0x5: lock set, VMX outside SMX set", ""},
			{SectionCPU, "nested paging", OK, "EPT: IA32_VMX_PROCBASED_CTLS2", ""},
			{SectionKVM, "device", OK, "KVM_GET_API_VERSION = 12", ""},
			{SectionKVM, "KVM_CAP_IRQCHIP", OK, "KVM_CHECK_EXTENSION(KVM_CAP_IRQCHIP) = 1", ""},
			{SectionCgroups, "delegated", Degraded, "memory pids (missing cpu io)", "echo '+cpu +io' > /sys/fs/cgroup/user.slice/user-1000.slice/cgroup.subtree_control"},
			{SectionUserNamespaces, "subordinate ids", OK, "/etc/subuid 100000-165535 (65536 ids)", ""},
		}},
		{"amd-svm-unified", "unified", true, true, "", []want{
			{SectionCPU, "extension", OK, "AMD-V (SVM)", ""},
			{SectionCPU, "firmware", OK, "VM_CR (0xc0010114) = 0x8: SVMDIS clear, LOCK set", ""},
			{SectionCPU, "nested paging", OK, "NPT", ""},
			{SectionKVM, "nested", OK, "nested = 1", ""},
			{SectionCgroups, "delegated", OK, "/system.slice/hull.service", ""},
		}},
		{"intel-vtx-disabled-legacy", "legacy", true, false, "", []want{
			{SectionCPU, "firmware", Missing, "= 0x1: lock set, VMX outside SMX clear", "enable Intel Virtualization Technology (VT-x) in the firmware setup"},
			{SectionCPU, "extension", OK, "/proc/cpuinfo omits vmx", ""},
			{SectionKVM, "module", Missing, "refuses to load", "firmware setup"},
			{SectionCgroups, "mode", Degraded, "legacy", "systemd.unified_cgroup_hierarchy=1"},
			{SectionNamespaces, "time", Degraded, "invalid argument", "CONFIG_TIME_NS"},
			{SectionUserNamespaces, "unprivileged", Degraded, "kernel.unprivileged_userns_clone = 0", "sysctl -w kernel.unprivileged_userns_clone=1"},
			{SectionFeatures, "pidfd", Degraded, "function not implemented", "Linux 5.3"},
			{SectionKernel, "version", Degraded, "older than 5.12", "upgrade"},
		}},
		{"atom-no-vtx-hybrid", "hybrid", true, false, "", []want{
			{SectionCPU, "hypervisor", OK, "bare metal", ""},
			{SectionCPU, "extension", Missing, "this CPU offers no VT-x", "firmware setup"},
			{SectionKVM, "module", Missing, "cannot load without VT-x", ""},
		}},
		{"kvm-guest-nested-vmx", "unified", true, true, "KVM", []want{
			{SectionCPU, "hypervisor", OK, `"KVMKVMKVM"`, ""},
			{SectionCPU, "firmware", OK, "/dev/kvm works", ""},
			{SectionCPU, "nested paging", OK, "/sys/module/kvm_intel/parameters/ept = Y", ""},
			{SectionKVM, "nested", Degraded, "nested = N", "modprobe kvm_intel nested=1"},
			{SectionCgroups, "delegated", Degraded, "none (missing cpu io memory pids)", "Delegate=yes"},
		}},
		{"hyperv-guest-no-nested", "unified", true, false, "Microsoft Hyper-V", []want{
			{SectionCPU, "extension", Missing, "Microsoft Hyper-V does not pass VT-x (VMX)", "ExposeVirtualizationExtensions"},
		}},
		// Recorded in the test VM: QEMU's -cpu max under TCG, kvm_amd.
		{"qemu-tcg-amdv-unified", "unified", true, true, "QEMU (TCG software emulation)", []want{
			{SectionCPU, "extension", OK, "CPUID 0x80000001 ECX bit 2 (SVM): set; /proc/cpuinfo lists svm", ""},
			{SectionCPU, "nested paging", OK, "NPT", ""},
			{SectionCPU, "firmware", OK, "/dev/kvm works", ""},
			{SectionKVM, "device", OK, "KVM_GET_API_VERSION = 12", ""},
			{SectionKVM, "nested", OK, "nested = 1", ""},
			{SectionCgroups, "delegated", OK, "cpu io memory", ""},
			{SectionFeatures, "idmapped mounts", Degraded, "(tmpfs): mount_setattr: invalid argument; a detached tmpfs", "tmpfs from Linux 6.3"},
		}},
		// hull inside an unprivileged docker container on that machine:
		// the container's seccomp profile refuses namespaces and mounts.
		{"docker-unprivileged-unified", "unified", false, false, "", []want{
			{SectionNamespaces, "mnt", Missing, "clone(CLONE_NEWNS): clone: operation not permitted", "privileged container"},
			{SectionNamespaces, "user", Degraded, "operation not permitted", "seccomp profile or LSM"},
			{SectionFeatures, "overlayfs", Degraded, "unshare(CLONE_NEWNS): operation not permitted", "privileged container"},
			{SectionUserNamespaces, "newuidmap", Degraded, "not found", "apt-get install uidmap"},
		}},
		{"amd-svm-rootless", "unified", true, false, "", []want{
			{SectionNamespaces, "net", OK, "clone(CLONE_NEWUSER|CLONE_NEWNET)", ""},
			{SectionFeatures, "overlayfs", Degraded, "not tried", "as root"},
			{SectionCPU, "firmware", Degraded, "permission denied", "CAP_SYS_RAWIO"},
			{SectionKVM, "device", Missing, "permission denied", "usermod -aG kvm"},
		}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			dir := filepath.Join("testdata/check", tc.fixture)
			r, err := Check(context.Background(), WithFixture(dir))
			if err != nil {
				t.Fatal(err)
			}
			if r.CgroupMode != tc.mode || r.Containers.OK != tc.containers || r.VMs.OK != tc.vm || r.Hypervisor != tc.hypervisor {
				t.Errorf("Check(%s) = mode %q, containers %v, vms %v %v, hypervisor %q; want %q, %v, %v, %q",
					tc.fixture, r.CgroupMode, r.Containers.OK, r.VMs.OK, r.VMs.Blockers, r.Hypervisor, tc.mode, tc.containers, tc.vm, tc.hypervisor)
			}
			for _, w := range tc.items {
				it, ok := r.Item(w.section, w.name)
				if !ok {
					t.Errorf("no item %s/%s", w.section, w.name)
					continue
				}
				if it.Status != w.status || !strings.Contains(it.Detail, w.detail) || !strings.Contains(it.Remedy, w.remedy) {
					t.Errorf("item = %s\nwant status %v, detail containing %q, remedy containing %q", it, w.status, w.detail, w.remedy)
				}
			}
			for _, it := range r.Items {
				if it.Status != OK && it.Remedy == "" {
					t.Errorf("item %s is not ok but has no remedy", it)
				}
				if it.Status == OK && it.Remedy != "" {
					t.Errorf("item %s is ok but has a remedy", it)
				}
			}
			golden(t, filepath.Join(dir, "report.json"), r)
			var text bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			goldenBytes(t, filepath.Join(dir, "report.txt"), text.Bytes())
		})
	}
}

func golden(t *testing.T, name string, r *Report) {
	t.Helper()
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	goldenBytes(t, name, append(got, '\n'))
}

// goldenBytes compares got with the file name, or rewrites it under
// -update.
func goldenBytes(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (go test -update rewrites it); got:\n%s", name, got)
	}
}

func TestCheckBadFixture(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "facts.json"), []byte(`{"cpuid": [], "surprise": 1}`), 0o644)
	_, err := Check(context.Background(), WithFixture(dir))
	if err == nil || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("Check(fixture with an unknown field) = %v, want an error naming the field", err)
	}
	_, err = Check(context.Background(), WithFixture(filepath.Join(dir, "nope")))
	if err == nil || !strings.Contains(err.Error(), "facts.json") {
		t.Errorf("Check(missing fixture) = %v, want an error naming facts.json", err)
	}
}

func TestStatusText(t *testing.T) {
	for _, s := range []Status{OK, Degraded, Missing} {
		b, _ := s.MarshalText()
		var back Status
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %v, %v, want %v", b, back, err, s)
		}
	}
	var s Status
	if err := s.UnmarshalText([]byte("fine")); err == nil {
		t.Error(`UnmarshalText("fine") succeeded`)
	}
}

func TestCheckOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []CheckOption
		want string
	}{
		{"empty fixture", []CheckOption{WithFixture("")}, "WithFixture"},
		{"empty device", []CheckOption{WithKVMDevice("")}, "WithKVMDevice"},
		{"probe options with a fixture", []CheckOption{WithFixture("testdata/check/amd-svm-unified"), WithProbeOptions(probe.WithUser("alice"))}, "fixture replays"},
	} {
		if _, err := Check(ctx, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := Check(ctx, WithFixture("testdata/check/amd-svm-unified"), WithLogger(nil)); err != nil {
		t.Errorf("Check(WithLogger(nil)) = %v", err)
	}
}
