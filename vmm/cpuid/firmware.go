package cpuid

import (
	"errors"
	"fmt"
	"io/fs"
)

// FirmwareState says whether firmware lets the OS turn virtualization on.
type FirmwareState int

const (
	// FirmwareUnknown: the MSR could not be read (no msr driver, not root,
	// or a hypervisor that refuses the read), or the vendor is not known.
	FirmwareUnknown FirmwareState = iota
	// FirmwareEnabled: the firmware locked virtualization on (Intel), or
	// did not disable it (AMD).
	FirmwareEnabled
	// FirmwareUnlocked: Intel IA32_FEATURE_CONTROL is not locked yet; the
	// kernel locks it with VMX enabled when kvm_intel loads.
	FirmwareUnlocked
	// FirmwareDisabled: the firmware switched virtualization off.
	FirmwareDisabled
)

func (s FirmwareState) String() string {
	switch s {
	case FirmwareEnabled:
		return "enabled"
	case FirmwareUnlocked:
		return "unlocked"
	case FirmwareDisabled:
		return "disabled"
	}
	return "unknown"
}

// Firmware is the firmware's verdict on virtualization, with the register
// it came from.
type Firmware struct {
	State  FirmwareState
	MSR    uint32 // the register read: MSR_IA32_FEAT_CTL or MSR_VM_CR
	Value  uint64 // its value, when read
	Err    error  // why it could not be read, when State is FirmwareUnknown
	Detail string // the reading in register terms, e.g. "VM_CR (0xc0010114) = 0x8: SVMDIS clear"
}

// ReadFirmware asks the MSR that governs the vendor's virtualization
// extension whether firmware disabled it. It reads nothing when CPUID
// shows no extension at all: there is then nothing for firmware to gate,
// or a hypervisor hides it.
func ReadFirmware(in Info, read MSRReader) Firmware {
	switch {
	case in.VMX && in.IntelLike():
		fw := Firmware{MSR: MSR_IA32_FEAT_CTL}
		v, err := read(0, MSR_IA32_FEAT_CTL)
		if err != nil {
			fw.Err = err
			fw.Detail = fmt.Sprintf("rdmsr IA32_FEATURE_CONTROL (%#x): %v", fw.MSR, err)
			return fw
		}
		fw.Value = v
		locked := v&FEAT_CTL_LOCKED != 0
		on := v&FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX != 0
		fw.Detail = fmt.Sprintf("IA32_FEATURE_CONTROL (%#x) = %#x: lock %s, VMX outside SMX %s",
			fw.MSR, v, bit(locked), bit(on))
		switch {
		case locked && on:
			fw.State = FirmwareEnabled
		case locked:
			fw.State = FirmwareDisabled
		default:
			fw.State = FirmwareUnlocked
		}
		return fw
	case in.SVM && in.AMDLike():
		fw := Firmware{MSR: MSR_VM_CR}
		v, err := read(0, MSR_VM_CR)
		if err != nil {
			fw.Err = err
			fw.Detail = fmt.Sprintf("rdmsr VM_CR (%#x): %v", fw.MSR, err)
			return fw
		}
		fw.Value = v
		dis := v&SVM_VM_CR_SVM_DIS_MASK != 0
		fw.Detail = fmt.Sprintf("VM_CR (%#x) = %#x: SVMDIS %s, LOCK %s",
			fw.MSR, v, bit(dis), bit(v&SVM_VM_CR_SVM_LOCK_MASK != 0))
		if dis {
			fw.State = FirmwareDisabled
		} else {
			fw.State = FirmwareEnabled
		}
		return fw
	}
	return Firmware{Detail: "no VMX or SVM in CPUID: no firmware switch to read"}
}

func bit(b bool) string {
	if b {
		return "set"
	}
	return "clear"
}

// ReadEPT reports whether an Intel CPU offers extended page tables: the
// allowed-1 half of IA32_VMX_PROCBASED_CTLS must permit secondary
// controls, and that of IA32_VMX_PROCBASED_CTLS2 must permit "enable EPT".
func ReadEPT(read MSRReader) (bool, error) {
	ctls, err := read(0, MSR_IA32_VMX_PROCBASED_CTLS)
	if err != nil {
		return false, err
	}
	if (ctls>>32)&CPU_BASED_ACTIVATE_SECONDARY_CONTROLS == 0 {
		return false, nil
	}
	ctls2, err := read(0, MSR_IA32_VMX_PROCBASED_CTLS2)
	if err != nil {
		return false, err
	}
	return (ctls2>>32)&SECONDARY_EXEC_ENABLE_EPT != 0, nil
}

// MSRRemedy says how to make the MSRs readable after err, or "" when the
// problem is not one the operator can fix.
func MSRRemedy(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "modprobe msr (as root) so that /dev/cpu/N/msr exists"
	case errors.Is(err, fs.ErrPermission):
		return "run as root: reading /dev/cpu/N/msr needs CAP_SYS_RAWIO"
	}
	return ""
}
