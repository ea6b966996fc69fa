package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCgroupV2Container runs in the test VM, where cgroup2 is the only
// hierarchy: the container sees its own cgroup as the root of its cgroup
// namespace, with the limits of its spec, and pause freezes it through
// cgroup.freeze.
func TestCgroupV2Container(t *testing.T) {
	testvm.Require(t, testvm.Root|testvm.CgroupV2)
	e := newTestEnv(t)
	limit, pids := int64(64<<20), int64(50)
	s := e.spec("sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; sleep 1000")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	s.Linux.Resources = &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &limit},
		Pids:    &specs.LinuxPids{Limit: &pids},
		Devices: s.Linux.Resources.Devices,
	}
	code, out := e.exec(e.start("v2", s).ID, "sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max")
	if code != 0 || strings.Fields(out)[0] != "0::/" || !strings.Contains(out, "67108864") || !strings.Contains(out, "50") {
		t.Errorf("inside a cgroup2 container: exit %d, %q; want 0::/, memory.max 67108864, pids.max 50", code, out)
	}
	ctx := context.Background()
	if err := e.rt.Pause(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e.rt, "v2", Paused)
	if err := e.rt.Resume(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e.rt, "v2", Running)
}
