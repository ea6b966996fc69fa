package hull

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hullrt/hull/runtime/probe"
)

// Status is how well this machine provides one thing hull uses.
type Status int

const (
	// OK: present and working as hull needs.
	OK Status = iota
	// Degraded: hull runs, but some containers or VMs (or speed) suffer;
	// the item's Remedy says what to change.
	Degraded
	// Missing: absent or refused. When the item is RequiredFor containers
	// or VMs, those cannot run here until its Remedy is applied.
	Missing
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Degraded:
		return "degraded"
	case Missing:
		return "missing"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalText writes the status as "ok", "degraded" or "missing".
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (s *Status) UnmarshalText(b []byte) error {
	for _, v := range []Status{OK, Degraded, Missing} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("unknown status %q", b)
}

// Need is what an item is required for.
type Need string

const (
	// ForContainers: containers cannot run while the item is missing.
	ForContainers Need = "containers"
	// ForVMs: micro-VMs cannot run while the item is missing.
	ForVMs Need = "vms"
)

// Item is one line of the report.
type Item struct {
	Section string `json:"section"` // "namespaces", "cgroups", "virtualization", ...
	Name    string `json:"name"`    // "net", "mode", "/dev/kvm", "KVM_CAP_IRQCHIP"
	Status  Status `json:"status"`
	// Detail says what was checked in kernel terms and what the kernel
	// answered: "clone(CLONE_NEWNET): ok (net:[4026532245], caller in
	// net:[4026531833])".
	Detail string `json:"detail"`
	// Remedy is a concrete action that makes the item ok ("modprobe
	// kvm_amd"); empty when Status is OK.
	Remedy string `json:"remedy,omitempty"`
	// RequiredFor lists what cannot run while the item is missing.
	RequiredFor []Need `json:"requiredFor,omitempty"`
}

// Blocks reports whether the item keeps n from running here.
func (it Item) Blocks(n Need) bool {
	if it.Status != Missing {
		return false
	}
	for _, r := range it.RequiredFor {
		if r == n {
			return true
		}
	}
	return false
}

func (it Item) String() string {
	s := it.Section + "/" + it.Name + ": " + it.Status.String() + ": " + it.Detail
	if it.Remedy != "" {
		s += " (remedy: " + it.Remedy + ")"
	}
	return s
}

// Verdict answers "can this run here?".
type Verdict struct {
	OK bool `json:"ok"`
	// Blockers are the items that keep it from running, as
	// "section/name".
	Blockers []string `json:"blockers,omitempty"`
}

// Report is the outcome of Check.
type Report struct {
	Kernel     string `json:"kernel"`               // uname -r
	CPU        string `json:"cpu"`                  // vendor and brand from CPUID
	Hypervisor string `json:"hypervisor,omitempty"` // the product hull runs under, "" on bare metal
	CgroupMode string `json:"cgroupMode"`           // "legacy", "hybrid", "unified", or "" when none
	// EUID is who ran the check: 0 for the full answer, another uid for
	// what a rootless runtime started by that user can do.
	EUID       int     `json:"euid"`
	Items      []Item  `json:"items"`
	Containers Verdict `json:"containers"` // containers can run
	VMs        Verdict `json:"vms"`        // micro-VMs can run
}

// Item returns the item with that section and name.
func (r *Report) Item(section, name string) (Item, bool) {
	for _, it := range r.Items {
		if it.Section == section && it.Name == name {
			return it, true
		}
	}
	return Item{}, false
}

// Section returns the items of one section, in report order.
func (r *Report) Section(section string) []Item {
	var out []Item
	for _, it := range r.Items {
		if it.Section == section {
			out = append(out, it)
		}
	}
	return out
}

func (r *Report) decide() {
	r.Containers, r.VMs = Verdict{OK: true}, Verdict{OK: true}
	for _, it := range r.Items {
		for _, v := range []struct {
			n Need
			v *Verdict
		}{{ForContainers, &r.Containers}, {ForVMs, &r.VMs}} {
			if it.Blocks(v.n) {
				v.v.OK = false
				v.v.Blockers = append(v.v.Blockers, it.Section+"/"+it.Name)
			}
		}
	}
}

type checkOptions struct {
	fixture   string
	kvmDevice string
	probeOpts []probe.Option
	logger    *slog.Logger
}

// CheckOption changes how Check gathers its facts.
type CheckOption func(*checkOptions) error

// WithFixture makes Check read a machine recorded by Record in dir
// instead of this one: dir/root stands for "/" (proc/self/mountinfo,
// proc/self/cgroup, proc/cpuinfo, the cgroup.controllers files, sys/module),
// and dir/facts.json holds the CPUID leaves, MSRs, probe outcomes and KVM
// answers that are not files. The default is the live machine.
func WithFixture(dir string) CheckOption {
	return func(o *checkOptions) error {
		if dir == "" {
			return errors.New("hull.WithFixture: empty directory")
		}
		o.fixture = dir
		return nil
	}
}

// WithKVMDevice names the KVM device node to open; the default is
// /dev/kvm.
func WithKVMDevice(path string) CheckOption {
	return func(o *checkOptions) error {
		if path == "" {
			return errors.New("hull.WithKVMDevice: empty path")
		}
		o.kvmDevice = path
		return nil
	}
}

// WithProbeOptions passes options to probe.Run, e.g. probe.WithUser to
// report another user's subordinate ids. The default is none.
func WithProbeOptions(opts ...probe.Option) CheckOption {
	return func(o *checkOptions) error {
		o.probeOpts = append(o.probeOpts, opts...)
		return nil
	}
}

// WithLogger makes Check log each fact-gathering step at debug level. The
// default, and a nil l, discard.
func WithLogger(l *slog.Logger) CheckOption {
	return func(o *checkOptions) error {
		if l != nil {
			o.logger = l
		}
		return nil
	}
}

func makeCheckOptions(opts []CheckOption) (*checkOptions, error) {
	o := &checkOptions{kvmDevice: "/dev/kvm", logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.fixture != "" && len(o.probeOpts) > 0 {
		return nil, errors.New("hull.WithProbeOptions: a fixture replays recorded probes; nothing is probed")
	}
	return o, nil
}

// Check finds out whether this machine can run containers and micro-VMs,
// and what to change when it cannot.
//
// It tries the kernel features for real (see package
// github.com/hullrt/hull/runtime/probe), reads the cgroup mounts, executes
// CPUID, reads the firmware's MSRs when it may, and opens /dev/kvm; then it
// judges each fact with no further system calls. Run it as root for a
// complete answer: an unprivileged caller learns what a rootless runtime
// could do, and cannot read MSRs or mount overlayfs.
//
// Check returns an error only for bad options, an unreadable fixture or a
// cancelled ctx; what the machine lacks is in the Report.
func Check(ctx context.Context, opts ...CheckOption) (*Report, error) {
	o, err := makeCheckOptions(opts)
	if err != nil {
		return nil, err
	}
	var f *facts
	if o.fixture != "" {
		f, err = loadFixture(o.fixture)
	} else {
		f, err = gather(ctx, o)
	}
	if err != nil {
		return nil, err
	}
	return evaluate(f), nil
}

// joinNames is strings.Join for lists that may be empty.
func joinNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, " ")
}
