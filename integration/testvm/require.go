package testvm

import (
	"os"
	"strings"
	"testing"
)

// GuestEnv is set to "1" in the environment of every test binary that the
// test VM's init runs. Tests read it through InGuest.
const GuestEnv = "HULL_TESTVM"

// InGuest reports whether this process runs inside the test VM.
func InGuest() bool { return os.Getenv(GuestEnv) == "1" }

// Feature is something a test needs from the machine it runs on.
type Feature int

const (
	// Root: the test runs as uid 0 with the full capability set.
	Root Feature = 1 << iota
	// CgroupV2: /sys/fs/cgroup is a cgroup2 mount (a unified host) with
	// the cpu, memory, io and pids controllers.
	CgroupV2
	// CgroupV1: /sys/fs/cgroup holds v1 controller hierarchies (a legacy or
	// hybrid host, as the development and CI machines are).
	CgroupV1
	// KVM: /dev/kvm opens.
	KVM
)

func (f Feature) String() string {
	var names []string
	for _, n := range []struct {
		f    Feature
		name string
	}{{Root, "root"}, {CgroupV2, "cgroup v2"}, {CgroupV1, "cgroup v1"}, {KVM, "/dev/kvm"}} {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "+")
}

// Require skips the test when this machine lacks any of the features, with
// a message that says which one and where the test does run.
//
// Inside the test VM nothing is skipped: the VM is built to offer every
// feature, so a missing one there is a failure of the VM, reported with
// t.Fatal. That way a test that needs cgroup v2 or KVM is skipped on the
// hybrid, KVM-less development hosts, runs for real in the VM, and can
// never be skipped everywhere.
func Require(t testing.TB, want Feature) {
	t.Helper()
	var missing Feature
	if want&Root != 0 && os.Geteuid() != 0 {
		missing |= Root
	}
	if want&CgroupV2 != 0 && !cgroup2Unified() {
		missing |= CgroupV2
	}
	if want&CgroupV1 != 0 && !cgroup1Present() {
		missing |= CgroupV1
	}
	if want&KVM != 0 && !kvmOpens() {
		missing |= KVM
	}
	if missing == 0 {
		return
	}
	if InGuest() && missing&CgroupV1 == 0 {
		t.Fatalf("the test VM lacks %s, which it exists to provide", missing)
	}
	t.Skipf("needs %s, which this machine lacks; it runs in the test VM (go test ./integration)", missing)
}

func cgroup2Unified() bool {
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		return false
	}
	for _, c := range []string{"cpu", "memory", "io", "pids"} {
		if !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " "+c+" ") {
			return false
		}
	}
	return true
}

func cgroup1Present() bool {
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes")
	return err == nil
}

func kvmOpens() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
