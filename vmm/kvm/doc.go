// Package kvm is hull's typed view of the Linux KVM API: the /dev/kvm
// system descriptor, VM descriptors and vCPU descriptors, each a Go type
// with one method per ioctl.
//
// KVM is three layers of file descriptors. Opening /dev/kvm gives the
// System, which answers questions about the host (KVM_GET_API_VERSION,
// KVM_CHECK_EXTENSION, KVM_GET_SUPPORTED_CPUID) and creates VMs. A VM
// (KVM_CREATE_VM) owns guest physical memory (KVM_SET_USER_MEMORY_REGION
// maps ordinary host memory into the guest), the in-kernel interrupt
// controllers and timer, and the eventfd shortcuts irqfd and ioeventfd. A
// VCPU (KVM_CREATE_VCPU) owns registers and a shared page, kvm_run,
// through which KVM_RUN reports each exit: the guest touched an I/O port or
// an unbacked address, halted, or failed.
//
// The ABI lives in uapi.go in the kernel's spelling (include/uapi/linux/kvm.h,
// arch/x86/include/uapi/asm/kvm.h); ioctl numbers are computed from their
// _IO/_IOR/_IOW/_IOWR parts and pinned by tests. Exits are decoded at the
// boundary (DecodeExit) into typed values, checked against the size of the
// kvm_run area, so the VMM above dispatches on Go types and its tests can
// build exits by hand.
//
// ProbeHost is the host check shared by "hull check" and "hull vm run":
// whether /dev/kvm exists and opens, its API version, and every capability
// the VMM needs, by name.
//
// KVM_RUN and the register ioctls of one vCPU must come from one thread:
// callers run each vCPU on a goroutine locked with runtime.LockOSThread.
package kvm
