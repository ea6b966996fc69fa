package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A Plan is what Set does to a cgroup, as data: the controllers to enable
// on the way down to it, the files to write in order, and on cgroup v2 the
// device filter program to attach. It is a pure function of the resources
// and the host's features (PlanV2, PlanV1); String prints it for golden
// tests and for teaching.
type Plan struct {
	// Enable lists the cgroup2 controllers that must be on in the
	// cgroup.subtree_control of every ancestor between the caller's own
	// cgroup and the container's cgroup.
	Enable []string
	// Writes are done in order.
	Writes []Write
	// Devices is the compiled device filter (cgroup v2 only); nil when
	// linux.resources.devices is empty. On v1 the rules are Writes to
	// devices.allow and devices.deny.
	Devices *DeviceFilter
	// CheckMemory, when not 0, is the new memory limit that
	// linux.resources.memory.checkBeforeUpdate asks to check first: Set
	// fails, writing nothing, when the cgroup already uses more.
	CheckMemory int64
}

// A Write is one file write into a cgroup directory.
type Write struct {
	// Hierarchy says which directory holds File: "" for the cgroup2
	// directory, a v1 controller's name ("memory", "cpu") for that v1
	// hierarchy's directory.
	Hierarchy string
	File      string
	Value     string
	// Field is the linux.resources field the write comes from, for
	// errors ("linux.resources.memory.limit").
	Field string
}

// String prints a write as the shell would do it.
func (w Write) String() string {
	file := w.File
	if w.Hierarchy != "" {
		file = w.Hierarchy + ":" + w.File
	}
	return fmt.Sprintf("echo %q > %s", w.Value, file)
}

func (p *Plan) String() string {
	var b strings.Builder
	if len(p.Enable) > 0 {
		fmt.Fprintf(&b, "# enable in each ancestor's cgroup.subtree_control\n")
		for _, c := range p.Enable {
			fmt.Fprintf(&b, "echo %q > cgroup.subtree_control\n", "+"+c)
		}
	}
	if p.CheckMemory != 0 {
		fmt.Fprintf(&b, "# linux.resources.memory.checkBeforeUpdate: fail unless usage <= %d\n", p.CheckMemory)
	}
	field := ""
	for _, w := range p.Writes {
		if w.Field != field {
			field = w.Field
			fmt.Fprintf(&b, "# %s\n", field)
		}
		fmt.Fprintln(&b, w)
	}
	if p.Devices != nil {
		fmt.Fprintf(&b, "# linux.resources.devices\n%s", p.Devices)
	}
	return b.String()
}

// Features are the host facts that a plan depends on beyond the mounts:
// which optional files the kernel offers. A Manager probes them from its
// own cgroup directories before each plan and passes them in, so that the
// planners stay pure.
type Features struct {
	// Swap: swap accounting is on (memory.swap.max on v2,
	// memory.memsw.limit_in_bytes on v1).
	Swap bool
	// BFQ: the BFQ I/O scheduler's weight file exists (io.bfq.weight on
	// v2, blkio.bfq.weight on v1): weights go there, in v1's range.
	BFQ bool
	// BFQDevice: io.bfq.weight takes per-device weights (Linux 5.4).
	BFQDevice bool
	// IOCost: io.weight exists (blk-iocost, Linux 5.4): with BFQ too,
	// the default weight goes to both, for the disks each schedules.
	IOCost bool
	// BFQDisks are the disks ("MAJ:MIN") whose I/O scheduler is BFQ: a
	// per-device weight goes to io.bfq.weight for them and to io.weight
	// (blk-iocost) for the others, as the kernel refuses a BFQ weight
	// for a disk that BFQ does not schedule (EOPNOTSUPP).
	BFQDisks []string
	// HugetlbRsvd: hugetlb.<size>.rsvd.* files exist (Linux 5.7): the
	// spec's hugepage limits then also limit reservations.
	HugetlbRsvd bool
	// HugePageSizes are the sizes the kernel offers, spelled as in the
	// hugetlb file names ("2MB", "1GB").
	HugePageSizes []string
	// DevicesList is what the v1 devices.list of the container's cgroup
	// reads before the plan (nil when there is none yet): the plan then
	// writes only what changes (see the package doc on devices).
	DevicesList *string
}

// probe reads the features of the kernel that the resources r depend on
// (every feature for a nil r) from the cgroup directories a manager owns
// (hierarchy → directory, "" for cgroup2): the optional files exist only
// in a non-root cgroup whose controllers are enabled, so managers probe
// after creating their cgroup and enabling controllers. A feature that
// no field of r uses is left zero, unprobed: a container that sets only
// device rules, as most do, costs no look at the host's disks or huge
// pages on each create.
func probe(paths map[string]string, r *specs.LinuxResources) Features {
	var f Features
	exists := func(h, file string) bool {
		dir, ok := paths[h]
		if !ok {
			return false
		}
		_, err := os.Stat(filepath.Join(dir, file))
		return err == nil
	}
	if r == nil || r.Memory != nil {
		f.Swap = exists("", "memory.swap.max") || exists("memory", "memory.memsw.limit_in_bytes")
	}
	if r == nil || r.BlockIO != nil {
		f.IOCost = exists("", "io.weight")
		f.BFQ = exists("", "io.bfq.weight") || exists("blkio", "blkio.bfq.weight") && !exists("blkio", "blkio.weight")
		if f.BFQ && paths[""] != "" {
			// Before Linux 5.4 io.bfq.weight reads back a bare number;
			// since, "default N" followed by per-device lines.
			b, _ := os.ReadFile(filepath.Join(paths[""], "io.bfq.weight"))
			f.BFQDevice = strings.HasPrefix(string(b), "default")
			f.BFQDisks = bfqDisks("/sys/block")
		}
	}
	if r == nil || len(r.HugepageLimits) > 0 {
		f.HugePageSizes = hugePageSizes()
		if len(f.HugePageSizes) > 0 {
			sz := f.HugePageSizes[0]
			f.HugetlbRsvd = exists("", "hugetlb."+sz+".rsvd.max") || exists("hugetlb", "hugetlb."+sz+".rsvd.limit_in_bytes")
		}
	}
	return f
}

// hugePageSizes are the huge page sizes the kernel offers, sorted, read
// once per process from /sys/kernel/mm/hugepages (they are fixed at boot).
var hugePageSizes = sync.OnceValue(func() []string {
	var sizes []string
	entries, _ := os.ReadDir("/sys/kernel/mm/hugepages")
	for _, e := range entries {
		// hugepages-2048kB → 2MB, as the hugetlb controller names it.
		var kb uint64
		if _, err := fmt.Sscanf(e.Name(), "hugepages-%dkB", &kb); err == nil {
			sizes = append(sizes, hugeName(kb))
		}
	}
	sort.Strings(sizes)
	return sizes
})

// bfqDisks lists the disks below sysBlock whose queue/scheduler shows
// "[bfq]" as the one in use, by their dev numbers.
func bfqDisks(sysBlock string) []string {
	var out []string
	entries, _ := os.ReadDir(sysBlock)
	for _, e := range entries {
		sched, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "queue", "scheduler"))
		if err != nil || !strings.Contains(string(sched), "[bfq]") {
			continue
		}
		if dev, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "dev")); err == nil {
			out = append(out, strings.TrimSpace(string(dev)))
		}
	}
	sort.Strings(out)
	return out
}

// hugeName spells a page size in KiB the way mm/hugetlb_cgroup.c does:
// the largest unit that divides it.
func hugeName(kb uint64) string {
	switch {
	case kb%(1<<20) == 0:
		return fmt.Sprintf("%dGB", kb>>20)
	case kb%(1<<10) == 0:
		return fmt.Sprintf("%dMB", kb>>10)
	}
	return fmt.Sprintf("%dKB", kb)
}
