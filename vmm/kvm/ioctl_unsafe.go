package kvm

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlPtr issues an ioctl whose argument points at a Go value, retrying
// when a signal interrupts it.
//
// SAFETY: every caller passes a pointer to a value whose type mirrors the
// C struct the request's size field names (uapi_unsafe_test.go pins those
// sizes). The conversion to uintptr happens in the Syscall argument list,
// so the value stays alive and unmoved for the call; the kernel reads or
// writes only within that size, and none of these structs hold Go pointers.
func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) (int, error) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, ioctlError(req, e)
		}
		return int(r), nil
	}
}

// atomicStoreByte stores b at *p with a compare-and-swap of the aligned
// 32-bit word holding it, so that a store from one goroutine is seen by a
// vCPU thread entering KVM_RUN without a data race.
func atomicStoreByte(p *byte, b byte) {
	// SAFETY: p points into the kvm_run mapping, which is page aligned, so
	// the word containing p lies inside the mapping and is 4-byte aligned.
	addr := uintptr(unsafe.Pointer(p))
	word := (*uint32)(unsafe.Add(unsafe.Pointer(p), -int(addr&3)))
	shift := (addr & 3) * 8
	for {
		old := atomic.LoadUint32(word)
		nw := old&^(0xff<<shift) | uint32(b)<<shift
		if atomic.CompareAndSwapUint32(word, old, nw) {
			return
		}
	}
}

// SupportedCPUID is KVM_GET_SUPPORTED_CPUID: the CPUID leaves this host's
// KVM can offer a guest, from which the VMM derives the guest's CPUID.
func (s *System) SupportedCPUID() ([]CPUIDEntry2, error) {
	c := new(kvmCpuid2)
	c.Nent = KVM_MAX_CPUID_ENTRIES
	if _, err := ioctlPtr(s.h.get(), KVM_GET_SUPPORTED_CPUID, unsafe.Pointer(c)); err != nil {
		return nil, err
	}
	return append([]CPUIDEntry2(nil), c.Entries[:c.Nent]...), nil
}

// MSRIndexList is KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and restores.
func (s *System) MSRIndexList() ([]uint32, error) {
	l := new(kvmMsrList)
	l.Nmsrs = maxMSRList
	if _, err := ioctlPtr(s.h.get(), KVM_GET_MSR_INDEX_LIST, unsafe.Pointer(l)); err != nil {
		return nil, err
	}
	return append([]uint32(nil), l.Indices[:l.Nmsrs]...), nil
}

// SetUserMemoryRegion is KVM_SET_USER_MEMORY_REGION with a raw region.
// Prefer MapMemory, which derives the host address from a slice.
func (vm *VM) SetUserMemoryRegion(r *UserspaceMemoryRegion) error {
	_, err := ioctlPtr(vm.h.get(), KVM_SET_USER_MEMORY_REGION, unsafe.Pointer(r))
	if err != nil {
		return fmt.Errorf("slot %d at guest %#x: %w", r.Slot, r.GuestPhysAddr, err)
	}
	return nil
}

// MapMemory backs guest physical [gpa, gpa+len(mem)) with mem in slot.
// mem must come from mmap (not the Go heap) and stay mapped while the VM
// lives; its length must be a multiple of the page size.
func (vm *VM) MapMemory(slot uint32, gpa uint64, mem []byte, flags uint32) error {
	if len(mem) == 0 || len(mem)%os.Getpagesize() != 0 {
		return fmt.Errorf("slot %d: memory size %d is not a positive multiple of the page size", slot, len(mem))
	}
	return vm.SetUserMemoryRegion(&UserspaceMemoryRegion{
		Slot:          slot,
		Flags:         flags,
		GuestPhysAddr: gpa,
		MemorySize:    uint64(len(mem)),
		// SAFETY: mem is an mmap'd region outside the Go heap (documented
		// precondition), so its address is stable for the VM's life.
		UserspaceAddr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))),
	})
}

// SetIdentityMapAddr is KVM_SET_IDENTITY_MAP_ADDR: one page VT-x uses for
// an identity page table while the guest runs unpaged.
func (vm *VM) SetIdentityMapAddr(addr uint64) error {
	_, err := ioctlPtr(vm.h.get(), KVM_SET_IDENTITY_MAP_ADDR, unsafe.Pointer(&addr))
	return err
}

// CreatePIT2 is KVM_CREATE_PIT2: an in-kernel i8254 timer on IRQ 0.
func (vm *VM) CreatePIT2(c PITConfig) error {
	_, err := ioctlPtr(vm.h.get(), KVM_CREATE_PIT2, unsafe.Pointer(&c))
	return err
}

// IRQLine is KVM_IRQ_LINE: drive GSI irq to level (for the in-kernel PIC
// and IOAPIC).
func (vm *VM) IRQLine(irq, level uint32) error {
	l := IRQLevel{IRQ: irq, Level: level}
	_, err := ioctlPtr(vm.h.get(), KVM_IRQ_LINE, unsafe.Pointer(&l))
	return err
}

// IRQFD is KVM_IRQFD: assign (or, with KVM_IRQFD_FLAG_DEASSIGN, remove) an
// eventfd whose signal raises a GSI inside the kernel.
func (vm *VM) IRQFD(r IRQFD) error {
	_, err := ioctlPtr(vm.h.get(), KVM_IRQFD, unsafe.Pointer(&r))
	return err
}

// IOEventFD is KVM_IOEVENTFD: assign (or remove) an eventfd signalled by a
// guest write to an address, handled inside the kernel.
func (vm *VM) IOEventFD(r IOEventFD) error {
	_, err := ioctlPtr(vm.h.get(), KVM_IOEVENTFD, unsafe.Pointer(&r))
	return err
}

// EnableCap is KVM_ENABLE_CAP on the VM.
func (vm *VM) EnableCap(c EnableCap) error {
	_, err := ioctlPtr(vm.h.get(), KVM_ENABLE_CAP, unsafe.Pointer(&c))
	return err
}

// Regs is KVM_GET_REGS.
func (v *VCPU) Regs() (Regs, error) {
	var r Regs
	_, err := ioctlPtr(v.h.get(), KVM_GET_REGS, unsafe.Pointer(&r))
	return r, err
}

// SetRegs is KVM_SET_REGS.
func (v *VCPU) SetRegs(r Regs) error {
	_, err := ioctlPtr(v.h.get(), KVM_SET_REGS, unsafe.Pointer(&r))
	return err
}

// Sregs is KVM_GET_SREGS.
func (v *VCPU) Sregs() (Sregs, error) {
	var s Sregs
	_, err := ioctlPtr(v.h.get(), KVM_GET_SREGS, unsafe.Pointer(&s))
	return s, err
}

// SetSregs is KVM_SET_SREGS.
func (v *VCPU) SetSregs(s Sregs) error {
	_, err := ioctlPtr(v.h.get(), KVM_SET_SREGS, unsafe.Pointer(&s))
	return err
}

// SetFPU is KVM_SET_FPU.
func (v *VCPU) SetFPU(f FPU) error {
	_, err := ioctlPtr(v.h.get(), KVM_SET_FPU, unsafe.Pointer(&f))
	return err
}

// LAPIC is KVM_GET_LAPIC.
func (v *VCPU) LAPIC() (LAPICState, error) {
	var l LAPICState
	_, err := ioctlPtr(v.h.get(), KVM_GET_LAPIC, unsafe.Pointer(&l))
	return l, err
}

// SetLAPIC is KVM_SET_LAPIC.
func (v *VCPU) SetLAPIC(l LAPICState) error {
	_, err := ioctlPtr(v.h.get(), KVM_SET_LAPIC, unsafe.Pointer(&l))
	return err
}

// MPState is KVM_GET_MP_STATE.
func (v *VCPU) MPState() (uint32, error) {
	var m MPState
	_, err := ioctlPtr(v.h.get(), KVM_GET_MP_STATE, unsafe.Pointer(&m))
	return m.MPState, err
}

// SetCPUID2 is KVM_SET_CPUID2: the answers the guest gets from CPUID.
func (v *VCPU) SetCPUID2(entries []CPUIDEntry2) error {
	if len(entries) > KVM_MAX_CPUID_ENTRIES {
		return fmt.Errorf("%d CPUID entries, KVM takes at most %d", len(entries), KVM_MAX_CPUID_ENTRIES)
	}
	c := new(kvmCpuid2)
	c.Nent = uint32(copy(c.Entries[:], entries))
	_, err := ioctlPtr(v.h.get(), KVM_SET_CPUID2, unsafe.Pointer(c))
	return err
}

// SetMSRs is KVM_SET_MSRS. KVM stops at the first MSR it refuses and
// returns how many it set; a short count is an error naming that MSR.
func (v *VCPU) SetMSRs(entries []MSREntry) error {
	if len(entries) > maxMSRs {
		return fmt.Errorf("%d MSRs, at most %d per call", len(entries), maxMSRs)
	}
	m := new(kvmMsrs)
	m.Nmsrs = uint32(copy(m.Entries[:], entries))
	n, err := ioctlPtr(v.h.get(), KVM_SET_MSRS, unsafe.Pointer(m))
	if err != nil {
		return err
	}
	if n != len(entries) {
		return fmt.Errorf("ioctl(KVM_SET_MSRS): KVM refused MSR %#x (set %d of %d)", entries[n].Index, n, len(entries))
	}
	return nil
}

// MSRs is KVM_GET_MSRS for the given indices.
func (v *VCPU) MSRs(indices []uint32) ([]MSREntry, error) {
	if len(indices) > maxMSRs {
		return nil, fmt.Errorf("%d MSRs, at most %d per call", len(indices), maxMSRs)
	}
	m := new(kvmMsrs)
	m.Nmsrs = uint32(len(indices))
	for i, idx := range indices {
		m.Entries[i].Index = idx
	}
	n, err := ioctlPtr(v.h.get(), KVM_GET_MSRS, unsafe.Pointer(m))
	if err != nil {
		return nil, err
	}
	return append([]MSREntry(nil), m.Entries[:n]...), nil
}
