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
