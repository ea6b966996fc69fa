package cgroups_test

//lint:file-ignore SA1019 linux.resources.memory.kernel is deprecated, but specs still carry it: v1 maps it, v2 rejects it by name.

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"syscall"
	"time"

	"github.com/hullrt/hull/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A runtime's use of the package: create the container's cgroup, apply
// its resources, start its process inside, and clean up.
func ExampleNew() {
	host, err := cgroups.DetectHost("/")
	if err != nil {
		log.Fatal(err)
	}
	m, err := cgroups.New(host, cgroups.Config{Path: "/hull/example"})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Create(); err != nil {
		log.Fatal(err)
	}
	limit := int64(64 << 20)
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		log.Fatal(err)
	}

	cmd := exec.Command("/bin/true")
	if dir, err := m.OpenUnified(); err == nil && host.Mode == cgroups.Unified {
		// cgroup v2: born in the cgroup (clone3 CLONE_INTO_CGROUP).
		defer dir.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
		err = cmd.Start()
	} else {
		// v1: move it after the fork, before it runs user code (the
		// runtime's init waits for the parent's go-ahead).
		if err = cmd.Start(); err == nil {
			err = m.Apply(cmd.Process.Pid)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	cmd.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.Kill(ctx, unix.SIGKILL)
	if err := m.Destroy(ctx); err != nil {
		log.Fatal(err)
	}
}

// Plans are data: what Set would write, printed for teaching and tests.
func ExamplePlanV2() {
	shares, quota, pids := uint64(2048), int64(50000), int64(100)
	limit, swap := int64(256<<20), int64(512<<20)
	plan, err := cgroups.PlanV2(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap},
		CPU:    &specs.LinuxCPU{Shares: &shares, Quota: &quota},
		Pids:   &specs.LinuxPids{Limit: &pids},
	}, []string{"cpu", "memory", "pids"}, cgroups.Features{Swap: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(plan)
	// Output:
	// # enable in each ancestor's cgroup.subtree_control
	// echo "+cpu" > cgroup.subtree_control
	// echo "+memory" > cgroup.subtree_control
	// echo "+pids" > cgroup.subtree_control
	// # linux.resources.memory.swap
	// echo "268435456" > memory.swap.max
	// # linux.resources.memory.limit
	// echo "268435456" > memory.max
	// # linux.resources.cpu.shares
	// echo "79" > cpu.weight
	// # linux.resources.cpu.quota
	// echo "50000 100000" > cpu.max
	// # linux.resources.pids.limit
	// echo "100" > pids.max
}

// Errors name every bad field at once.
func ExamplePlanV2_errors() {
	kernel := int64(64 << 20)
	_, err := cgroups.PlanV2(&specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Kernel: &kernel},
		Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 1}}},
	}, []string{"memory"}, cgroups.Features{})
	fmt.Println(err)
	// Output:
	// linux.resources.memory.kernel: not supported on cgroup v2 (kernel memory is part of memory.max)
	// linux.resources.network: not supported on cgroup v2 (net_cls and net_prio are v1 controllers; use eBPF or nftables on the cgroup)
}

func ExampleDetectHost() {
	host, err := cgroups.DetectHost("testdata/hosts/unified")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(host.Mode, host.Self)
	fmt.Println("delegated:", host.Delegated)
	// Output:
	// unified /user.slice/user-1000.slice/user@1000.service/app.slice/app-podman.scope
	// delegated: [cpu memory pids]
}

// On a v1 host each write names its hierarchy.
func ExamplePlanV1() {
	host, err := cgroups.DetectHost("testdata/hosts/legacy")
	if err != nil {
		log.Fatal(err)
	}
	shares, limit := uint64(512), int64(100)
	classID := uint32(0x100001)
	plan, err := cgroups.PlanV1(&specs.LinuxResources{
		CPU:     &specs.LinuxCPU{Shares: &shares},
		Pids:    &specs.LinuxPids{Limit: &limit},
		Network: &specs.LinuxNetwork{ClassID: &classID},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}, host, cgroups.Features{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(plan)
	// Output:
	// # linux.resources.cpu.shares
	// echo "512" > cpu:cpu.shares
	// # linux.resources.pids.limit
	// echo "100" > pids:pids.max
	// # linux.resources.network.classID
	// echo "1048577" > net_cls:net_cls.classid
	// # linux.resources.devices
	// echo "a *:* rwm" > devices:devices.deny
}

func ExampleCPUSharesToWeight() {
	for _, shares := range []uint64{2, 1024, 262144} {
		fmt.Println(shares, "→", cgroups.CPUSharesToWeight(shares))
	}
	// Output:
	// 2 → 1
	// 1024 → 39
	// 262144 → 10000
}

// The spec's swap is memory+swap (v1's memsw); v2 limits swap alone.
func ExampleSwapToV2() {
	swap, err := cgroups.SwapToV2(768<<20, 512<<20)
	fmt.Println(swap>>20, "MiB of swap", err)
	// Output: 256 MiB of swap <nil>
}

// On v1 the device rules become the state that the devices controller
// must reach (a default and exceptions) and only the writes that get
// there from what devices.list shows now: here the container had null
// read-write and gets null read-only and zero read-write. Zero's access,
// split across two rules, becomes one exception: the kernel allows an
// O_RDWR open only if a single exception has both r and w.
func ExamplePlanV1_devices() {
	host, err := cgroups.DetectHost("testdata/hosts/legacy")
	if err != nil {
		log.Fatal(err)
	}
	one, three, five := int64(1), int64(3), int64(5)
	current := "c 1:3 rw\n" // devices.list of the container's cgroup
	plan, err := cgroups.PlanV1(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &one, Minor: &three, Access: "r"},
		{Allow: true, Type: "c", Major: &one, Minor: &five, Access: "r"},
		{Allow: true, Type: "c", Major: &one, Minor: &five, Access: "w"},
	}}, host, cgroups.Features{DevicesList: &current})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(plan)
	// Output:
	// # linux.resources.devices
	// echo "c 1:3 w" > devices:devices.deny
	// echo "c 1:5 rw" > devices:devices.allow
}
