package cgroups

//lint:file-ignore SA1019 linux.resources.memory.kernel is deprecated, but specs still carry it: v1 maps it, v2 rejects it by name.

import (
	"errors"
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// PlanV1 maps linux.resources onto the v1 controllers' files on host (a
// hybrid or legacy host). Each write names its hierarchy; a field whose
// controller is not mounted is an error naming both.
func PlanV1(r *specs.LinuxResources, host *Host, f Features) (*Plan, error) {
	p := &planner{plan: &Plan{}, host: host, features: f, available: host.Delegated}
	if r == nil {
		return p.plan, nil
	}
	p.memoryV1(r.Memory)
	p.cpuV1(r.CPU)
	p.pids(r.Pids)
	p.blkioV1(r.BlockIO)
	p.hugetlb(r.HugepageLimits)
	p.rdma(r.Rdma)
	p.network(r.Network)
	p.unified(r.Unified)
	if len(r.Devices) > 0 {
		rules, err := parseDeviceRules(r.Devices)
		if err != nil {
			p.errs = append(p.errs, err)
		} else if w, err := v1DeviceWrites(rules, f.DevicesList); err != nil {
			p.errf("linux.resources.devices: %w", err)
		} else {
			p.plan.Writes = append(p.plan.Writes, w...)
		}
	}
	// Every write must land in a mounted hierarchy.
	seen := map[string]bool{}
	for _, w := range p.plan.Writes {
		if _, ok := host.V1[w.Hierarchy]; w.Hierarchy != "" && !ok && !seen[w.Hierarchy] {
			seen[w.Hierarchy] = true
			p.errs = append(p.errs, fmt.Errorf("%s: the %s controller is not mounted on this host", w.Field, w.Hierarchy))
		}
	}
	return p.finish()
}

func (p *planner) memoryV1(m *specs.LinuxMemory) {
	if m == nil {
		return
	}
	const f = "linux.resources.memory"
	var limit int64
	if m.Limit != nil {
		limit = *m.Limit
	}
	swap := int64(0)
	if m.Swap != nil {
		swap = *m.Swap
	}
	if limit == -1 && swap == 0 && p.features.Swap {
		swap = -1 // lift memory+swap together with memory, as runc does
	}
	if swap != 0 {
		if _, err := SwapToV2(swap, limit); err != nil && limit != 0 {
			p.errf("%s.swap: %w", f, err)
		} else if !p.features.Swap {
			if swap != -1 {
				p.errf("%s.swap: this kernel has no swap accounting (memory.memsw.limit_in_bytes is missing; boot with swapaccount=1)", f)
			}
			swap = 0
		}
	}
	if m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && limit > 0 {
		p.plan.CheckMemory = limit
	}
	switch {
	case limit != 0 && swap != 0:
		// The kernel keeps memory.limit <= memory.memsw.limit at every
		// step. Lifting memsw first makes the new memory limit fit
		// whatever the old values were; then memsw goes to its value.
		p.write("memory", f+".swap", "memory.memsw.limit_in_bytes", "-1")
		p.write("memory", f+".limit", "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
		p.write("memory", f+".swap", "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	case limit != 0:
		p.write("memory", f+".limit", "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	case swap != 0:
		p.write("memory", f+".swap", "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	}
	if m.Reservation != nil && *m.Reservation != 0 {
		p.write("memory", f+".reservation", "memory.soft_limit_in_bytes", strconv.FormatInt(*m.Reservation, 10))
	}
	if m.Kernel != nil && *m.Kernel != 0 {
		p.write("memory", f+".kernel", "memory.kmem.limit_in_bytes", strconv.FormatInt(*m.Kernel, 10))
	}
	if m.KernelTCP != nil && *m.KernelTCP != 0 {
		p.write("memory", f+".kernelTCP", "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(*m.KernelTCP, 10))
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			p.errf("%s.swappiness: %d is above 100", f, *m.Swappiness)
		} else {
			p.write("memory", f+".swappiness", "memory.swappiness", strconv.FormatUint(*m.Swappiness, 10))
		}
	}
	if m.DisableOOMKiller != nil {
		p.write("memory", f+".disableOOMKiller", "memory.oom_control", boolValue(*m.DisableOOMKiller))
	}
	if m.UseHierarchy != nil {
		p.write("memory", f+".useHierarchy", "memory.use_hierarchy", boolValue(*m.UseHierarchy))
	}
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (p *planner) cpuV1(c *specs.LinuxCPU) {
	if c == nil {
		return
	}
	const f = "linux.resources.cpu"
	if c.Shares != nil && *c.Shares != 0 {
		p.write("cpu", f+".shares", "cpu.shares", strconv.FormatUint(*c.Shares, 10))
	}
	quotaSet := c.Quota != nil && *c.Quota != 0
	if c.Burst != nil && (quotaSet || c.Period != nil) {
		p.write("cpu", f+".burst", "cpu.cfs_burst_us", "0") // see cpuV2
	}
	if c.Period != nil && *c.Period != 0 {
		p.write("cpu", f+".period", "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10))
	}
	if quotaSet {
		p.write("cpu", f+".quota", "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10))
	}
	if c.Burst != nil {
		p.write("cpu", f+".burst", "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10))
	}
	// The realtime period must be in place before the runtime that has
	// to fit in it.
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		p.write("cpu", f+".realtimePeriod", "cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10))
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		p.write("cpu", f+".realtimeRuntime", "cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10))
	}
	if c.Idle != nil {
		p.write("cpu", f+".idle", "cpu.idle", strconv.FormatInt(*c.Idle, 10))
	}
	if c.Cpus != "" {
		p.write("cpuset", f+".cpus", "cpuset.cpus", c.Cpus)
	}
	if c.Mems != "" {
		p.write("cpuset", f+".mems", "cpuset.mems", c.Mems)
	}
}

func (p *planner) blkioV1(b *specs.LinuxBlockIO) {
	if b == nil {
		return
	}
	const f = "linux.resources.blockIO"
	weightFile := "blkio.weight"
	if p.features.BFQ {
		weightFile = "blkio.bfq.weight"
	}
	if b.Weight != nil && *b.Weight != 0 {
		p.write("blkio", f+".weight", weightFile, strconv.FormatUint(uint64(*b.Weight), 10))
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		p.write("blkio", f+".leafWeight", "blkio.leaf_weight", strconv.FormatUint(uint64(*b.LeafWeight), 10))
	}
	for i, d := range b.WeightDevice {
		field := fmt.Sprintf("%s.weightDevice[%d]", f, i)
		dev := fmt.Sprintf("%d:%d ", d.Major, d.Minor)
		if d.Weight != nil {
			p.write("blkio", field+".weight", weightFile+"_device", dev+strconv.FormatUint(uint64(*d.Weight), 10))
		}
		if d.LeafWeight != nil {
			p.write("blkio", field+".leafWeight", "blkio.leaf_weight_device", dev+strconv.FormatUint(uint64(*d.LeafWeight), 10))
		}
	}
	for _, t := range []struct {
		name, file string
		devs       []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for i, d := range t.devs {
			p.write("blkio", fmt.Sprintf("%s.%s[%d]", f, t.name, i), t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate))
		}
	}
}

func (p *planner) network(n *specs.LinuxNetwork) {
	if n == nil {
		return
	}
	if n.ClassID != nil {
		p.write("net_cls", "linux.resources.network.classID", "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10))
	}
	for i, pr := range n.Priorities {
		field := fmt.Sprintf("linux.resources.network.priorities[%d]", i)
		if pr.Name == "" {
			p.errs = append(p.errs, errors.New(field+".name: empty"))
			continue
		}
		p.write("net_prio", field, "net_prio.ifpriomap", fmt.Sprintf("%s %d", pr.Name, pr.Priority))
	}
}
