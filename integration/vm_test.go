package integration

import (
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
)

// vmPackages are the packages whose tests also run inside the test VM,
// where cgroup v2 is the only hierarchy and /dev/kvm works. Their tests
// that need those call testvm.Require and are skipped on the host.
var vmPackages = []testvm.Package{
	{Path: "./integration", Run: "^TestGuest"},
	{Path: ".", Run: "^(TestCheck|TestRecord|ExampleCheck|TestEngineCgroupV2)"}, // hull check's library; the container engine on cgroup v2
	{Path: "./cmd/hull", Run: "^(TestCheck|TestEventsCLI)"},                     // hull check --json --vm; hull events on cgroup v2
	{Path: "./runtime/seccomp"},                                                 // filters on a second kernel, and i386 programs
	{Path: "./runtime/capability"},
	{Path: "./runtime/probe"},                            // each namespace created for real on a second kernel
	{Path: "./cgroups"},                                  // the v2 driver: limits, device eBPF, freezer, OOM events
	{Path: "./vmm/kvm", Run: "Guest|CPUID|ProbeHostKVM"}, // hand-assembled guests on real KVM
	{Path: "./runtime"},                                  // real containers on a pure cgroup v2 host
	// bridge, NAT, published ports and rootless pasta/slirp4netns on a
	// second kernel; the slow concurrency and SIGKILL cases run on the host.
	{Path: "./netns", Run: "^Test(BridgeNetworking|DualStack|Modes|SetupFailureRollsBack|AdoptedBridge|GivenNamespace|RealProcesses|Rootless)"},
}

// TestInVM boots the test VM once and runs vmPackages inside it.
func TestInVM(t *testing.T) {
	testvm.TestPackages(t, testvm.Options{
		Timeout: 45 * time.Minute,
		// The engine's test pulls its image from a registry on loopback;
		// netns's rootless tests run pasta and slirp4netns.
		HostTools: []string{"docker-registry", "busybox", "pasta", "slirp4netns"},
	}, vmPackages...)
}
