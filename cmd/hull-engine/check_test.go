package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull"
	"github.com/hullrt/hull/integration/testvm"
)

// runCheck runs the hull binary's check verb and returns its output and
// exit status.
func runCheck(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testvm.Hull(t), append([]string{"check"}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("hull check %v: %v\n%s", args, err, out)
	return "", -1
}

func parseReport(t *testing.T, out string) *hull.Report {
	t.Helper()
	var r hull.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("hull check --json printed no report: %v\n%s", err, out)
	}
	return &r
}

// TestCheckHostCLI runs "hull check" on a development or CI host: root,
// v1 cgroups (hybrid: a cgroup2 mount beside them) and no /dev/kvm.
// Containers can run, so the exit status is 0, until --vm asks for KVM too.
func TestCheckHostCLI(t *testing.T) {
	testvm.Require(t, testvm.Root|testvm.CgroupV1)
	out, code := runCheck(t)
	t.Logf("hull check:\n%s", out)
	if code != 0 {
		t.Errorf("hull check exited %d, want 0: containers can run here", code)
	}
	for _, want := range []string{"NAMESPACES", "clone(CLONE_NEWTIME): ok", "CGROUPS", "containers can run: yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("hull check output lacks %q", want)
		}
	}

	out, code = runCheck(t, "--json")
	r := parseReport(t, out)
	if code != 0 || !r.Containers.OK {
		t.Errorf("hull check --json: exit %d, containers %+v", code, r.Containers)
	}
	if r.CgroupMode != "hybrid" && r.CgroupMode != "legacy" {
		t.Errorf("cgroupMode = %q on a host with v1 hierarchies", r.CgroupMode)
	}
	if it, ok := r.Item("kvm", "device"); ok && it.Status == hull.Missing {
		if r.VMs.OK {
			t.Errorf("vms ok although kvm/device is missing: %s", it)
		}
		if _, code := runCheck(t, "--vm"); code != 1 {
			t.Errorf("hull check --vm exited %d without KVM, want 1", code)
		}
	}
}

// TestCheckRootlessCLI runs "hull check --json" as nobody: the report is
// the rootless view, every namespace tried inside a new user namespace,
// and on this kernel (which lets nobody create user namespaces, as the
// root run shows) containers can still run.
func TestCheckRootlessCLI(t *testing.T) {
	testvm.Require(t, testvm.Root)
	// nobody must reach the binary: copy it into a directory it may enter.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := testvm.CopyHull(t, dir)
	cmd := exec.Command(bin, "check", "--json")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hull check --json as nobody: %v\n%s", err, out)
	}
	r := parseReport(t, string(out))
	if r.EUID != 65534 || !r.Containers.OK {
		t.Errorf("as nobody: euid %d, containers %+v; want 65534 and ok", r.EUID, r.Containers)
	}
	for _, it := range r.Section("namespaces") {
		if it.Name != "user" && !strings.Contains(it.Detail, "clone(CLONE_NEWUSER|") {
			t.Errorf("as nobody: %s was not tried inside a user namespace", it)
		}
		if it.Status != hull.OK {
			t.Errorf("as nobody: %s", it)
		}
	}
	if it, _ := r.Item("kernel features", "overlayfs"); it.Status != hull.Degraded || !strings.Contains(it.Detail, "not tried") {
		t.Errorf("as nobody: %s, want degraded, not tried", it)
	}
}

// TestCheckFixtureCLI replays recorded machines through the binary: the
// exit status follows the verdicts, and --vm makes KVM count.
func TestCheckFixtureCLI(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		args    []string
		code    int
		want    string
	}{
		{"amd-svm-unified", []string{"--vm"}, 0, "micro-VMs can run:  yes"},
		{"intel-vtx-disabled-legacy", nil, 0, "remedy: enable Intel Virtualization Technology (VT-x) in the firmware setup"},
		{"intel-vtx-disabled-legacy", []string{"--vm"}, 1, "micro-VMs can run:  no (virtualization/firmware, kvm/module, kvm/device)"},
		{"hyperv-guest-no-nested", []string{"--vm", "--json"}, 1, "ExposeVirtualizationExtensions"},
		{"docker-unprivileged-unified", nil, 1, "containers can run: no (namespaces/ipc, namespaces/mnt, namespaces/net, namespaces/pid, namespaces/uts)"},
	} {
		args := append([]string{"--fixture", "../../testdata/check/" + tc.fixture}, tc.args...)
		out, code := runCheck(t, args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("hull check %s = exit %d, want %d and output containing %q; got:\n%s", strings.Join(args, " "), code, tc.code, tc.want, out)
		}
	}
	if out, code := runCheck(t, "--fixture", "/nonexistent"); code != 1 || !strings.Contains(out, "facts.json") {
		t.Errorf("hull check --fixture /nonexistent = exit %d, %q; want 1 and an error naming facts.json", code, out)
	}
}

// TestCheckVM runs "hull check --json --vm" inside the test VM, a pure
// cgroup v2 host whose CPU (QEMU's -cpu max under TCG) offers AMD-V with
// nested paging and whose kernel has kvm_amd loaded: the report must say
// so and exit 0.
func TestCheckVM(t *testing.T) {
	testvm.Require(t, testvm.Root|testvm.CgroupV2|testvm.KVM)
	out, code := runCheck(t, "--json", "--vm")
	r := parseReport(t, out)
	for _, it := range r.Items {
		t.Log(it)
	}
	if code != 0 || !r.Containers.OK || !r.VMs.OK {
		t.Errorf("hull check --json --vm: exit %d, containers %+v, vms %+v; want 0, both ok", code, r.Containers, r.VMs)
	}
	if r.CgroupMode != "unified" {
		t.Errorf("cgroupMode = %q, want unified", r.CgroupMode)
	}
	for _, w := range []struct{ section, name, detail string }{
		{"cgroups", "mode", "unified"},
		{"virtualization", "extension", "AMD-V (SVM)"},
		{"virtualization", "nested paging", "NPT"},
		{"kvm", "module", "kvm_amd: loaded"},
		{"kvm", "device", "KVM_GET_API_VERSION = 12"},
		{"kvm", "KVM_CAP_IRQCHIP", "KVM_CHECK_EXTENSION(KVM_CAP_IRQCHIP)"},
	} {
		it, ok := r.Item(w.section, w.name)
		if !ok || it.Status != hull.OK || !strings.Contains(it.Detail, w.detail) {
			t.Errorf("%s/%s = %s, want ok with %q", w.section, w.name, it, w.detail)
		}
	}
}
