package hull

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/runtime/probe"
)

// TestEvaluateRemedies changes one fact of a healthy recorded machine at a
// time and checks the item it affects: its status, what blocks, and the
// remedy the operator is told.
func TestEvaluateRemedies(t *testing.T) {
	failed := func(call, errno string) probe.Outcome {
		return probe.Outcome{Call: call, Errno: errno, Err: call + ": " + errno}
	}
	for _, tc := range []struct {
		name          string
		change        func(f *facts)
		section, item string
		status        Status
		remedy        string
		blocks        Need
	}{
		{"overlay not registered", func(f *facts) { f.probe.Overlay = failed("mount(overlay)", "ENODEV") },
			SectionFeatures, "overlayfs", Degraded, "modprobe overlay", ""},
		{"overlay upper on a bad filesystem", func(f *facts) { f.probe.Overlay = failed("mount(overlay)", "EINVAL") },
			SectionFeatures, "overlayfs", Degraded, "ext4, xfs or btrfs", ""},
		{"overlay forbidden above the kernel", func(f *facts) { f.probe.Overlay = failed("mount(overlay)", "EPERM") },
			SectionFeatures, "overlayfs", Degraded, "privileged container", ""},
		{"no seccomp filters", func(f *facts) { f.probe.Seccomp = failed("seccomp(SECCOMP_SET_MODE_FILTER)", "EINVAL") },
			SectionFeatures, "seccomp", Degraded, "CONFIG_SECCOMP_FILTER", ""},
		{"net namespace refused to root", func(f *facts) { f.probe.Namespaces[3].Outcome = failed("clone(CLONE_NEWNET)", "EPERM") },
			SectionNamespaces, "net", Missing, "run hull on the host", ForContainers},
		{"time namespace not built", func(f *facts) { f.probe.Namespaces[5].Outcome = failed("clone(CLONE_NEWTIME)", "EINVAL") },
			SectionNamespaces, "time", Degraded, "CONFIG_TIME_NS", ""},
		{"namespace limit reached", func(f *facts) { f.probe.Namespaces[2].Outcome = failed("clone(CLONE_NEWNS)", "ENOSPC") },
			SectionNamespaces, "mnt", Missing, "sysctl -w user.max_mnt_namespaces=", ForContainers},
		{"user namespaces off", func(f *facts) {
			f.probe.UserNS.MaxUserNamespaces = 0
			f.probe.UserNS.Unprivileged = failed("clone(CLONE_NEWUSER) as uid 65534", "ENOSPC")
		}, SectionUserNamespaces, "unprivileged", Degraded, "sysctl -w user.max_user_namespaces=15000", ""},
		{"rootless without user namespaces", func(f *facts) {
			f.probe.EUID = 1000
			f.probe.UserNS.Unprivileged = failed("clone(CLONE_NEWUSER)", "EPERM")
			f.probe.UserNS.AppArmorRestrict = 1
		}, SectionUserNamespaces, "unprivileged", Missing, "apparmor_restrict_unprivileged_userns=0", ForContainers},
		{"kvm group", func(f *facts) { f.kvm.OpenErr = &os.PathError{Op: "open", Path: "/dev/kvm", Err: syscall.EACCES} },
			SectionKVM, "device", Missing, "usermod -aG kvm", ForVMs},
		{"kvm required capability absent", func(f *facts) { f.kvm.Caps[1].Value = 0 },
			SectionKVM, "KVM_CAP_IRQCHIP", Missing, "KVM_CAP_IRQCHIP", ForVMs},
		{"kvm optional capability absent", func(f *facts) { f.kvm.Caps[len(f.kvm.Caps)-1].Value = 0 },
			SectionKVM, "KVM_CAP_GET_TSC_KHZ", Degraded, "KVM_CAP_GET_TSC_KHZ", ""},
		{"kvm_amd without nested", func(f *facts) { f.modules["kvm_amd"].params["nested"] = "0" },
			SectionKVM, "nested", Degraded, "modprobe kvm_amd nested=1", ""},
		{"kvm_amd not loaded", func(f *facts) { delete(f.modules, "kvm_amd"); f.kvm.Present = false },
			SectionKVM, "module", Missing, "modprobe kvm_amd", ForVMs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := loadFixture("testdata/check/amd-svm-unified")
			if err != nil {
				t.Fatal(err)
			}
			if r := evaluate(f); !r.Containers.OK || !r.VMs.OK {
				t.Fatalf("the healthy machine is not healthy: %+v %+v", r.Containers, r.VMs)
			}
			tc.change(f)
			r := evaluate(f)
			it, ok := r.Item(tc.section, tc.item)
			if !ok {
				t.Fatalf("no item %s/%s", tc.section, tc.item)
			}
			if it.Status != tc.status || !strings.Contains(it.Remedy, tc.remedy) {
				t.Errorf("item = %s\nwant status %v and a remedy containing %q", it, tc.status, tc.remedy)
			}
			for _, n := range []Need{ForContainers, ForVMs} {
				if it.Blocks(n) != (n == tc.blocks) {
					t.Errorf("item %s blocks %s: %v, want %v", it, n, it.Blocks(n), n == tc.blocks)
				}
			}
			if tc.blocks == ForContainers && r.Containers.OK || tc.blocks == ForVMs && r.VMs.OK {
				t.Errorf("verdicts %+v %+v ignore the missing %s/%s", r.Containers, r.VMs, tc.section, tc.item)
			}
		})
	}
}
