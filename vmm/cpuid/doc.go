// Package cpuid asks the processor itself whether it can run hardware
// virtual machines, and whether the firmware lets it.
//
// Three kernel-visible sources answer, in order of trust:
//
//   - The CPUID instruction (cpuid_amd64.s). Leaf 0 names the vendor
//     ("GenuineIntel", "AuthenticAMD"); leaf 1 ECX bit 5 is VMX (Intel
//     VT-x); leaf 0x80000001 ECX bit 2 is SVM (AMD-V); leaf 0x8000000A EDX
//     bit 0 is AMD's nested paging (NPT). Leaf 1 ECX bit 31 is set by every
//     hypervisor for its guests, and leaf 0x40000000 then carries the
//     hypervisor's 12-byte signature ("KVMKVMKVM", "Microsoft Hv", ...).
//     A hypervisor decides what its guests see here: a guest without VMX or
//     SVM in CPUID cannot run KVM, whatever the physical CPU can do.
//   - Model-specific registers, read through the msr driver as 8-byte
//     pread(2)s of /dev/cpu/N/msr at offset = the MSR's index (root, and
//     "modprobe msr"). Firmware can switch virtualization off below the
//     operating system: on Intel, IA32_FEATURE_CONTROL (0x3a) locked (bit 0)
//     with "VMX outside SMX" (bit 2) clear; on AMD, VM_CR (0xc0010114) bit 4
//     SVMDIS. Intel's EPT is not in CPUID at all but in the VMX capability
//     MSRs IA32_VMX_PROCBASED_CTLS (0x482) and ..._CTLS2 (0x48b).
//   - When neither is readable the answer is "unknown", never a guess.
//
// CPUID is reached through a Func so that recorded leaves (a Recording)
// stand in for the processor: the tests decode real machines' leaves —
// Intel with VT-x, AMD with SVM, guests of KVM, Hyper-V and QEMU — on any
// host.
package cpuid
