package kvm

import (
	"testing"
	"unsafe"
)

// Each Go mirror of a kernel struct has the C size (printed by gcc from
// <linux/kvm.h> on x86-64), and the size the ioctl numbers are built from.
func TestStructSizes(t *testing.T) {
	for _, tt := range []struct {
		name   string
		goSize uintptr
		ioctl  uintptr // the sizeof constant used in ioctl numbers; 0 if none
		want   uintptr
	}{
		{"kvm_userspace_memory_region", unsafe.Sizeof(UserspaceMemoryRegion{}), sizeofKvmUserspaceMemoryRegion, 32},
		{"kvm_regs", unsafe.Sizeof(Regs{}), sizeofKvmRegs, 144},
		{"kvm_segment", unsafe.Sizeof(Segment{}), sizeofKvmSegment, 24},
		{"kvm_dtable", unsafe.Sizeof(DTable{}), sizeofKvmDtable, 16},
		{"kvm_sregs", unsafe.Sizeof(Sregs{}), sizeofKvmSregs, 312},
		{"kvm_cpuid_entry2", unsafe.Sizeof(CPUIDEntry2{}), sizeofKvmCpuidEntry2, 40},
		{"kvm_cpuid2 header", unsafe.Offsetof(kvmCpuid2{}.Entries), sizeofKvmCpuid2, 8},
		{"kvm_msr_entry", unsafe.Sizeof(MSREntry{}), sizeofKvmMsrEntry, 16},
		{"kvm_msrs header", unsafe.Offsetof(kvmMsrs{}.Entries), sizeofKvmMsrs, 8},
		{"kvm_msr_list header", unsafe.Offsetof(kvmMsrList{}.Indices), sizeofKvmMsrList, 4},
		{"kvm_irq_level", unsafe.Sizeof(IRQLevel{}), sizeofKvmIrqLevel, 8},
		{"kvm_pit_config", unsafe.Sizeof(PITConfig{}), sizeofKvmPitConfig, 64},
		{"kvm_irqfd", unsafe.Sizeof(IRQFD{}), sizeofKvmIrqfd, 32},
		{"kvm_ioeventfd", unsafe.Sizeof(IOEventFD{}), sizeofKvmIoeventfd, 64},
		{"kvm_fpu", unsafe.Sizeof(FPU{}), sizeofKvmFpu, 416},
		{"kvm_lapic_state", unsafe.Sizeof(LAPICState{}), sizeofKvmLapicState, 1024},
		{"kvm_mp_state", unsafe.Sizeof(MPState{}), sizeofKvmMpState, 4},
		{"kvm_enable_cap", unsafe.Sizeof(EnableCap{}), sizeofKvmEnableCap, 104},
	} {
		if tt.goSize != tt.want {
			t.Errorf("Go mirror of %s is %d bytes, want %d", tt.name, tt.goSize, tt.want)
		}
		if tt.ioctl != tt.want {
			t.Errorf("sizeof constant for %s is %d, want %d", tt.name, tt.ioctl, tt.want)
		}
	}
	for _, tt := range []struct {
		name      string
		got, want uintptr
	}{
		{"FPU.MXCSR", unsafe.Offsetof(FPU{}.MXCSR), 408},
		{"Sregs.CR0", unsafe.Offsetof(Sregs{}.CR0), 224},
		{"Sregs.InterruptBitmap", unsafe.Offsetof(Sregs{}.InterruptBitmap), 280},
		{"IOEventFD.Flags", unsafe.Offsetof(IOEventFD{}.Flags), 24},
	} {
		if tt.got != tt.want {
			t.Errorf("offset of %s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}
