package integration

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/vmm/kvm"
)

// TestGuestCgroup2 proves that the test VM is a pure cgroup v2 host: the
// root of the one hierarchy offers the controllers the runtime maps
// linux.resources onto, and no v1 hierarchy is mounted.
func TestGuestCgroup2(t *testing.T) {
	testvm.Require(t, testvm.Root|testvm.CgroupV2)
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		t.Fatal(err)
	}
	have := strings.Fields(string(b))
	for _, c := range []string{"cpu", "cpuset", "io", "memory", "pids", "hugetlb"} {
		if !slices.Contains(have, c) {
			t.Errorf("cgroup.controllers = %q, want it to hold %s", have, c)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), " - cgroup ") {
		t.Errorf("a cgroup v1 hierarchy is mounted in the test VM:\n%s", mounts)
	}
}

// TestGuestKVM proves that /dev/kvm works in the test VM: it opens, speaks
// API version 12 and has every capability hull's VMM requires.
func TestGuestKVM(t *testing.T) {
	testvm.Require(t, testvm.Root|testvm.KVM)
	r := kvm.ProbeHost("/dev/kvm")
	if r.OpenErr != nil {
		t.Fatalf("open /dev/kvm: %v", r.OpenErr)
	}
	if r.APIVersion != 12 {
		t.Errorf("KVM_GET_API_VERSION = %d, want 12", r.APIVersion)
	}
	for _, c := range r.Caps {
		if c.Required && c.Value == 0 {
			t.Errorf("%s is missing (%s)", c.Name, c.Why)
		}
	}
	if b, err := os.ReadFile("/sys/module/kvm_amd/parameters/npt"); err != nil || !slices.Contains([]string{"1", "Y"}, strings.TrimSpace(string(b))) {
		t.Errorf("kvm_amd npt = %q, %v; want nested paging on", b, err)
	}
}
