package kvm

import (
	"errors"
	"fmt"
	"os"
)

// CapReport is one KVM capability the VMM relies on.
type CapReport struct {
	Name     string // kernel spelling, "KVM_CAP_IRQCHIP"
	Value    int    // KVM_CHECK_EXTENSION's answer; 0 means absent
	Required bool   // hull vm cannot run without it
	Why      string // what the VMM uses it for, one short phrase
}

// HostReport is what a KVM device says about itself.
type HostReport struct {
	Device     string      // the path probed, normally /dev/kvm
	Present    bool        // the node exists
	OpenErr    error       // why opening failed; nil when it opened
	APIVersion int         // KVM_GET_API_VERSION (12 on every kernel since 2.6.22)
	Caps       []CapReport // every capability the VMM needs, in a fixed order
}

// neededCap is one row of the capability table.
type neededCap struct {
	cap      Cap
	required bool
	why      string
}

// neededCaps is every capability hull's VMM asks about, in the order
// reports list them: first what it cannot run without, then what it uses
// when present or reads as a limit.
var neededCaps = []neededCap{
	{KVM_CAP_USER_MEMORY, true, "guest RAM mapped from host memory"},
	{KVM_CAP_IRQCHIP, true, "in-kernel PIC, IOAPIC and local APICs"},
	{KVM_CAP_PIT2, true, "in-kernel i8254 timer"},
	{KVM_CAP_EXT_CPUID, true, "guest CPUID from KVM_GET_SUPPORTED_CPUID"},
	{KVM_CAP_SET_TSS_ADDR, true, "real-mode emulation area on VT-x"},
	{KVM_CAP_IRQFD, true, "device interrupts through eventfds"},
	{KVM_CAP_IOEVENTFD, true, "virtqueue notifications through eventfds"},
	{KVM_CAP_IMMEDIATE_EXIT, true, "stopping vCPUs out of KVM_RUN"},
	{KVM_CAP_NR_VCPUS, false, "recommended vCPUs per VM"},
	{KVM_CAP_MAX_VCPUS, false, "most vCPUs per VM"},
	{KVM_CAP_NR_MEMSLOTS, false, "memory slots per VM"},
	{KVM_CAP_SET_IDENTITY_MAP_ADDR, false, "placing VT-x's identity page table"},
	{KVM_CAP_TSC_DEADLINE_TIMER, false, "TSC-deadline APIC timer for the guest"},
	{KVM_CAP_MP_STATE, false, "reading vCPU run states"},
	{KVM_CAP_INTERNAL_ERROR_DATA, false, "details of emulation failures"},
	{KVM_CAP_READONLY_MEM, false, "read-only memory slots"},
	{KVM_CAP_GET_TSC_KHZ, false, "guest TSC frequency"},
}

// ProbeHost opens device (normally DefaultDevice) and reports its API
// version and every capability the VMM needs. It never fails: what went
// wrong is in the report, and Err summarises it. Caps is listed even when
// the device did not open (every Value then 0), so that a report can say
// what would be checked.
func ProbeHost(device string) HostReport {
	r := HostReport{Device: device}
	for _, c := range neededCaps {
		r.Caps = append(r.Caps, CapReport{Name: c.cap.String(), Required: c.required, Why: c.why})
	}
	if _, err := os.Stat(device); err == nil {
		r.Present = true
	}
	sys, err := Open(device)
	if err != nil {
		r.OpenErr = err
		return r
	}
	defer sys.Close()
	if r.APIVersion, err = sys.APIVersion(); err != nil {
		r.OpenErr = err
		return r
	}
	for i, c := range neededCaps {
		v, err := sys.CheckExtension(c.cap)
		if err != nil {
			v = 0 // KVM answers unknown extensions with 0; an error means the same
		}
		r.Caps[i].Value = v
	}
	return r
}

// ErrNoKVM is wrapped by HostReport.Err when the device is missing or
// unusable.
var ErrNoKVM = errors.New("KVM is not usable")

// Err explains why the VMM cannot run on this host, or returns nil. Each
// problem is its own line: a missing node, an open failure (with its errno,
// so errors.Is(err, fs.ErrPermission) works), a wrong API version, each
// missing required capability by name.
func (r HostReport) Err() error {
	var errs []error
	switch {
	case !r.Present:
		errs = append(errs, fmt.Errorf("%w: %s does not exist (load kvm_intel or kvm_amd; in a VM, enable nested virtualization)", ErrNoKVM, r.Device))
	case r.OpenErr != nil:
		errs = append(errs, fmt.Errorf("%w: %w", ErrNoKVM, r.OpenErr))
	case r.APIVersion != KVM_API_VERSION:
		errs = append(errs, fmt.Errorf("%w: %s: KVM_GET_API_VERSION is %d, want %d", ErrNoKVM, r.Device, r.APIVersion, KVM_API_VERSION))
	default:
		for _, c := range r.Caps {
			if c.Required && c.Value == 0 {
				errs = append(errs, fmt.Errorf("%w: %s: %s is missing (needed for %s)", ErrNoKVM, r.Device, c.Name, c.Why))
			}
		}
	}
	return errors.Join(errs...)
}

// Cap returns the report for the named capability, and whether it was
// probed.
func (r HostReport) Cap(name string) (CapReport, bool) {
	for _, c := range r.Caps {
		if c.Name == name {
			return c, true
		}
	}
	return CapReport{}, false
}
