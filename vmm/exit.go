package vmm

import (
	"fmt"

	"github.com/hullrt/hull/vmm/devices"
	"github.com/hullrt/hull/vmm/kvm"
)

// Reason is why a VM stopped running.
type Reason int

const (
	// PowerOff: the guest powered off (ACPI S5). A clean end.
	PowerOff Reason = iota + 1
	// Reboot: the guest asked for a reset. hull ends the run rather than
	// restart the guest; the caller decides whether to start it again.
	Reboot
	// Stopped: the host stopped the VM (Stop, Kill, or a cancelled context).
	Stopped
	// Crashed: the guest broke the machine: a triple fault, an
	// instruction KVM cannot emulate, an exit hull does not handle.
	Crashed
	// Failed: the VMM itself failed (an ioctl error).
	Failed
)

func (r Reason) String() string {
	switch r {
	case PowerOff:
		return "guest powered off"
	case Reboot:
		return "guest rebooted"
	case Stopped:
		return "stopped by the host"
	case Crashed:
		return "guest crashed"
	case Failed:
		return "VMM failed"
	}
	return "running"
}

// Result is how a run ended.
type Result struct {
	Reason Reason
	// Detail says what happened, in KVM's terms, with the vCPU's registers
	// when the guest crashed.
	Detail string
}

// Err is nil when the guest ended the run itself by powering off or
// rebooting, or the host stopped it; otherwise an error with the detail.
func (r Result) Err() error {
	switch r.Reason {
	case PowerOff, Reboot, Stopped:
		return nil
	}
	return fmt.Errorf("%s: %s", r.Reason, r.Detail)
}

// handleExit carries out one decoded exit against the buses. It returns a
// non-nil Result when the exit ends the run. This is the boundary between
// KVM and hull's devices: tests drive it with exits built by hand.
func handleExit(e kvm.Exit, pio, mmio *devices.Bus) *Result {
	switch e := e.(type) {
	case kvm.ExitIO:
		// INS/OUTS with a REP prefix arrive as Count items of Size bytes.
		for i := 0; i < int(e.Count); i++ {
			item := e.Data[i*int(e.Size) : (i+1)*int(e.Size)]
			if e.Out {
				pio.Write(uint64(e.Port), item)
			} else {
				pio.Read(uint64(e.Port), item)
			}
		}
	case kvm.ExitMMIO:
		if e.Write {
			mmio.Write(e.Addr, e.Data)
		} else {
			mmio.Read(e.Addr, e.Data)
		}
	case kvm.ExitHLT:
		// Only without an in-kernel local APIC: nothing can wake the vCPU.
		return &Result{Crashed, "KVM_EXIT_HLT: the vCPU halted with no interrupt controller to wake it"}
	case kvm.ExitShutdown:
		// On AMD, KVM resets the vCPU on a shutdown intercept before
		// returning, so the registers dumped after this are the reset
		// state, not the faulting one.
		return &Result{Crashed, "KVM_EXIT_SHUTDOWN: triple fault"}
	case kvm.ExitSystemEvent:
		switch e.Type {
		case kvm.KVM_SYSTEM_EVENT_SHUTDOWN:
			return &Result{PowerOff, "KVM_SYSTEM_EVENT_SHUTDOWN"}
		case kvm.KVM_SYSTEM_EVENT_RESET:
			return &Result{Reboot, "KVM_SYSTEM_EVENT_RESET"}
		case kvm.KVM_SYSTEM_EVENT_CRASH:
			return &Result{Crashed, "KVM_SYSTEM_EVENT_CRASH"}
		}
		return &Result{Crashed, fmt.Sprintf("KVM_EXIT_SYSTEM_EVENT type %d", e.Type)}
	case kvm.ExitFailEntry:
		return &Result{Crashed, fmt.Sprintf("KVM_EXIT_FAIL_ENTRY: hardware entry failure reason %#x on CPU %d", e.HardwareReason, e.CPU)}
	case kvm.ExitInternalError:
		what := map[uint32]string{
			kvm.KVM_INTERNAL_ERROR_EMULATION:              "instruction emulation failed",
			kvm.KVM_INTERNAL_ERROR_SIMUL_EX:               "exception while delivering an exception",
			kvm.KVM_INTERNAL_ERROR_DELIVERY_EV:            "event delivery failed",
			kvm.KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: "unexpected hardware exit",
		}[e.Suberror]
		return &Result{Crashed, fmt.Sprintf("KVM_EXIT_INTERNAL_ERROR suberror %d (%s) data %#x", e.Suberror, what, e.Data)}
	case kvm.ExitUnknown:
		return &Result{Crashed, fmt.Sprintf("KVM_EXIT_UNKNOWN: hardware exit reason %#x", e.HardwareReason)}
	case kvm.ExitException:
		return &Result{Crashed, fmt.Sprintf("KVM_EXIT_EXCEPTION %d error code %#x", e.Exception, e.ErrorCode)}
	default:
		switch e.Reason() {
		case kvm.KVM_EXIT_INTR, kvm.KVM_EXIT_IRQ_WINDOW_OPEN:
			return nil
		}
		return &Result{Crashed, "unhandled exit " + e.Reason().String()}
	}
	return nil
}

// dumpRegs formats a vCPU's registers for a crash report.
func dumpRegs(cpu int, r kvm.Regs, s kvm.Sregs) string {
	return fmt.Sprintf("vCPU %d: RIP=%#x RSP=%#x RFLAGS=%#x RAX=%#x RBX=%#x RCX=%#x RDX=%#x RSI=%#x RDI=%#x "+
		"CR0=%#x CR2=%#x CR3=%#x CR4=%#x EFER=%#x CS=%#x(base %#x l=%d)",
		cpu, r.RIP, r.RSP, r.RFLAGS, r.RAX, r.RBX, r.RCX, r.RDX, r.RSI, r.RDI,
		s.CR0, s.CR2, s.CR3, s.CR4, s.EFER, s.CS.Selector, s.CS.Base, s.CS.L)
}
