package cgroups

//lint:file-ignore SA1019 linux.resources.memory.kernel is deprecated, but specs still carry it: v1 maps it, v2 rejects it by name.

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// PlanV2 maps linux.resources onto cgroup v2 files. available lists the
// controllers the container's parent may enable below it (Host.Delegated
// for a cgroup below the caller's own). Every unusable field is reported,
// each named by its path in the spec.
func PlanV2(r *specs.LinuxResources, available []string, f Features) (*Plan, error) {
	p := &planner{plan: &Plan{}, v2: true, available: available, features: f}
	if r == nil {
		return p.plan, nil
	}
	p.memoryV2(r.Memory)
	p.cpuV2(r.CPU)
	p.pids(r.Pids)
	p.ioV2(r.BlockIO)
	p.hugetlb(r.HugepageLimits)
	p.rdma(r.Rdma)
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		p.errf("linux.resources.network: not supported on cgroup v2 (net_cls and net_prio are v1 controllers; use eBPF or nftables on the cgroup)")
	}
	p.unified(r.Unified)
	if len(r.Devices) > 0 {
		rules, err := parseDeviceRules(r.Devices)
		if err != nil {
			p.errs = append(p.errs, err)
		} else {
			p.plan.Devices = compileDeviceFilter(rules)
		}
	}
	return p.finish()
}

// planner accumulates a plan and the problems found on the way.
type planner struct {
	plan      *Plan
	v2        bool
	available []string // v2: controllers that may be enabled
	host      *Host    // v1: the mounted hierarchies
	features  Features
	errs      []error
}

func (p *planner) errf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// write adds a write to the cgroup2 directory (v2) or the controller's
// v1 hierarchy, enabling the controller on v2.
func (p *planner) write(controller, field, file, value string) {
	if p.v2 {
		p.need(controller, field)
		p.plan.Writes = append(p.plan.Writes, Write{File: file, Value: value, Field: field})
		return
	}
	p.plan.Writes = append(p.plan.Writes, Write{Hierarchy: controller, File: file, Value: value, Field: field})
}

// need records a v2 controller to enable, and fails the field when the
// controller is not available.
func (p *planner) need(controller, field string) {
	if controller == "" || slices.Contains(p.plan.Enable, controller) {
		return
	}
	if !slices.Contains(p.available, controller) {
		p.errf("%s: the %s controller is not available to this cgroup (its parent offers: %s)", field, controller, strings.Join(p.available, " "))
		return
	}
	p.plan.Enable = append(p.plan.Enable, controller)
}

func (p *planner) finish() (*Plan, error) {
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	// Enable in the kernel's own order (cgroup.controllers), which keeps
	// plans stable.
	order := map[string]int{"cpuset": 0, "cpu": 1, "io": 2, "memory": 3, "hugetlb": 4, "pids": 5, "rdma": 6, "misc": 7}
	sort.SliceStable(p.plan.Enable, func(i, j int) bool {
		oi, ok := order[p.plan.Enable[i]]
		if !ok {
			oi = 100
		}
		oj, ok := order[p.plan.Enable[j]]
		if !ok {
			oj = 100
		}
		return oi < oj
	})
	return p.plan, nil
}

func (p *planner) memoryV2(m *specs.LinuxMemory) {
	if m == nil {
		return
	}
	const f = "linux.resources.memory"
	var limit int64
	if m.Limit != nil {
		limit = *m.Limit
	}
	if m.Swap != nil || limit == -1 {
		var swap int64
		if m.Swap != nil {
			swap = *m.Swap
		}
		v, err := SwapToV2(swap, limit)
		switch {
		case err != nil:
			p.errf("%s.swap: %w", f, err)
		case v == 0 && (m.Swap == nil || *m.Swap == 0):
			// unset
		case !p.features.Swap && (v == -1 || v == 0):
			// No swap accounting: "no swap limit" and "no swap" need
			// no file.
		case !p.features.Swap:
			p.errf("%s.swap: this kernel has no swap accounting (memory.swap.max is missing; boot with swapaccount=1)", f)
		default:
			p.write("memory", f+".swap", "memory.swap.max", maxValue(v))
		}
	}
	if limit != 0 {
		if m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && limit > 0 {
			p.plan.CheckMemory = limit
		}
		p.write("memory", f+".limit", "memory.max", maxValue(limit))
	}
	if m.Reservation != nil && *m.Reservation != 0 {
		p.write("memory", f+".reservation", "memory.low", maxValue(*m.Reservation))
	}
	if m.Kernel != nil && *m.Kernel != 0 {
		p.errf("%s.kernel: not supported on cgroup v2 (kernel memory is part of memory.max)", f)
	}
	if m.KernelTCP != nil && *m.KernelTCP != 0 {
		p.errf("%s.kernelTCP: not supported on cgroup v2 (socket memory is part of memory.max)", f)
	}
	if m.Swappiness != nil {
		p.errf("%s.swappiness: not supported on cgroup v2 (there is no per-cgroup swappiness; use memory.swap.max)", f)
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		p.errf("%s.disableOOMKiller: not supported on cgroup v2 (the OOM killer cannot be turned off per cgroup; memory.high throttles instead)", f)
	}
	if m.UseHierarchy != nil && !*m.UseHierarchy {
		p.errf("%s.useHierarchy: false is not supported on cgroup v2, which is always hierarchical", f)
	}
}

func (p *planner) cpuV2(c *specs.LinuxCPU) {
	if c == nil {
		return
	}
	const f = "linux.resources.cpu"
	if c.Shares != nil && *c.Shares != 0 {
		p.write("cpu", f+".shares", "cpu.weight", strconv.FormatUint(CPUSharesToWeight(*c.Shares), 10))
	}
	quotaSet := c.Quota != nil && *c.Quota != 0 || c.Period != nil && *c.Period != 0
	if c.Burst != nil && quotaSet {
		// The burst may not exceed the quota: clear it so that the new
		// quota is accepted whatever the old burst was.
		p.write("cpu", f+".burst", "cpu.max.burst", "0")
	}
	if quotaSet {
		p.write("cpu", f+".quota", "cpu.max", cpuMax(c.Quota, c.Period))
	}
	if c.Burst != nil {
		p.write("cpu", f+".burst", "cpu.max.burst", strconv.FormatUint(*c.Burst, 10))
	}
	if c.Idle != nil {
		p.write("cpu", f+".idle", "cpu.idle", strconv.FormatInt(*c.Idle, 10))
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 || c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		p.errf("%s.realtimeRuntime: not supported on cgroup v2 (the cpu controller has no realtime budget; realtime tasks must stay in the root cgroup)", f)
	}
	if c.Cpus != "" {
		p.write("cpuset", f+".cpus", "cpuset.cpus", c.Cpus)
	}
	if c.Mems != "" {
		p.write("cpuset", f+".mems", "cpuset.mems", c.Mems)
	}
}

func (p *planner) pids(l *specs.LinuxPids) {
	if l == nil || l.Limit == nil {
		return
	}
	v := "max"
	if *l.Limit > 0 {
		v = strconv.FormatInt(*l.Limit, 10)
	}
	p.write("pids", "linux.resources.pids.limit", "pids.max", v)
}

func (p *planner) ioV2(b *specs.LinuxBlockIO) {
	if b == nil {
		return
	}
	const f = "linux.resources.blockIO"
	if b.Weight != nil && *b.Weight != 0 {
		if p.features.BFQ {
			p.write("io", f+".weight", "io.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10))
		}
		if !p.features.BFQ || p.features.IOCost {
			p.write("io", f+".weight", "io.weight", strconv.FormatUint(BlkioWeightToIOWeight(*b.Weight), 10))
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		p.errf("%s.leafWeight: not supported on cgroup v2 (it belonged to the removed CFQ scheduler)", f)
	}
	for i, d := range b.WeightDevice {
		field := fmt.Sprintf("%s.weightDevice[%d]", f, i)
		if d.Weight != nil {
			dev := fmt.Sprintf("%d:%d", d.Major, d.Minor)
			if p.features.BFQDevice && slices.Contains(p.features.BFQDisks, dev) {
				p.write("io", field+".weight", "io.bfq.weight", dev+" "+strconv.FormatUint(uint64(*d.Weight), 10))
			} else {
				p.write("io", field+".weight", "io.weight", dev+" "+strconv.FormatUint(BlkioWeightToIOWeight(*d.Weight), 10))
			}
		}
		if d.LeafWeight != nil && *d.LeafWeight != 0 {
			p.errf("%s.leafWeight: not supported on cgroup v2", field)
		}
	}
	for _, t := range []struct {
		name, key string
		devs      []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "rbps", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "wbps", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "riops", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "wiops", b.ThrottleWriteIOPSDevice},
	} {
		for i, d := range t.devs {
			// A rate of 0 removes the limit, as it did on v1.
			v := "max"
			if d.Rate != 0 {
				v = strconv.FormatUint(d.Rate, 10)
			}
			p.write("io", fmt.Sprintf("%s.%s[%d]", f, t.name, i), "io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, v))
		}
	}
}

// hugetlb is shared by both drivers: on v1 the files are
// hugetlb.<size>.limit_in_bytes, on v2 hugetlb.<size>.max; with
// reservation accounting (Linux 5.7) the spec's limit also caps
// reservations, as the spec asks.
func (p *planner) hugetlb(limits []specs.LinuxHugepageLimit) {
	v2 := p.v2 || p.hugetlbOnUnified()
	for i, l := range limits {
		field := fmt.Sprintf("linux.resources.hugepageLimits[%d]", i)
		if err := hugepageSize(l.Pagesize); err != nil {
			p.errf("%s.pageSize: %w", field, err)
			continue
		}
		if len(p.features.HugePageSizes) > 0 && !slices.Contains(p.features.HugePageSizes, l.Pagesize) {
			p.errf("%s.pageSize: this kernel has no %s huge pages (it has %s)", field, l.Pagesize, strings.Join(p.features.HugePageSizes, ", "))
			continue
		}
		v := strconv.FormatUint(l.Limit, 10)
		max, rsvd := "hugetlb."+l.Pagesize+".max", "hugetlb."+l.Pagesize+".rsvd.max"
		if !v2 {
			max, rsvd = "hugetlb."+l.Pagesize+".limit_in_bytes", "hugetlb."+l.Pagesize+".rsvd.limit_in_bytes"
		}
		if v2 && !p.v2 {
			// A hybrid host whose hugetlb controller is bound to the
			// cgroup2 hierarchy.
			p.plan.Writes = append(p.plan.Writes, Write{File: max, Value: v, Field: field + ".limit"})
			if p.features.HugetlbRsvd {
				p.plan.Writes = append(p.plan.Writes, Write{File: rsvd, Value: v, Field: field + ".limit"})
			}
			if !slices.Contains(p.plan.Enable, "hugetlb") {
				p.plan.Enable = append(p.plan.Enable, "hugetlb")
			}
			continue
		}
		p.write("hugetlb", field+".limit", max, v)
		if p.features.HugetlbRsvd {
			p.write("hugetlb", field+".limit", rsvd, v)
		}
	}
}

func (p *planner) hugetlbOnUnified() bool {
	if p.host == nil {
		return false
	}
	_, v1 := p.host.V1["hugetlb"]
	return !v1 && slices.Contains(p.host.Delegated, "hugetlb")
}

// rdma writes rdma.max, whose syntax is the same on v1 and v2:
// "mlx4_0 hca_handle=2 hca_object=2000".
func (p *planner) rdma(r map[string]specs.LinuxRdma) {
	devs := make([]string, 0, len(r))
	for d := range r {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, d := range devs {
		field := fmt.Sprintf("linux.resources.rdma[%q]", d)
		if d == "" || strings.ContainsAny(d, " \n=") {
			p.errf("%s: not a device name", field)
			continue
		}
		l := r[d]
		num := func(v *uint32) string {
			if v == nil {
				return "max"
			}
			return strconv.FormatUint(uint64(*v), 10)
		}
		p.write("rdma", field, "rdma.max", fmt.Sprintf("%s hca_handle=%s hca_object=%s", d, num(l.HcaHandles), num(l.HcaObjects)))
	}
}

// unified writes linux.resources.unified last, so that it overrides what
// the typed fields wrote. Keys are cgroup2 file names; the controller
// named by the key's prefix is enabled, and must be available.
func (p *planner) unified(u map[string]string) {
	if len(u) == 0 {
		return
	}
	if !p.v2 && p.host.Unified == "" {
		p.errf("linux.resources.unified: needs a cgroup2 hierarchy (this host is %s, with none mounted)", p.host.Mode)
		return
	}
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := fmt.Sprintf("linux.resources.unified[%q]", k)
		controller, _, ok := strings.Cut(k, ".")
		switch {
		case !ok || controller == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == "..":
			p.errf("%s: not a cgroup file name (<controller>.<file>)", field)
			continue
		case controller == "cgroup":
			switch k {
			case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.type", "cgroup.freeze", "cgroup.kill":
				p.errf("%s: the runtime manages this file itself", field)
				continue
			}
			controller = "" // core files need no controller
		}
		if !p.v2 {
			// A hybrid host: the cgroup2 side takes the keys of the
			// controllers bound to it.
			if _, v1 := p.host.V1[controller]; v1 {
				p.errf("%s: the %s controller is bound to cgroup v1 on this %s host; use the typed linux.resources fields", field, controller, p.host.Mode)
				continue
			}
			if controller != "" && !slices.Contains(p.available, controller) {
				p.errf("%s: the %s controller is not available on this host's cgroup2 side (it offers: %s)", field, controller, strings.Join(p.available, " "))
				continue
			}
			if controller != "" && !slices.Contains(p.plan.Enable, controller) {
				p.plan.Enable = append(p.plan.Enable, controller)
			}
			p.plan.Writes = append(p.plan.Writes, Write{File: k, Value: u[k], Field: field})
			continue
		}
		p.write(controller, field, k, u[k])
	}
}
