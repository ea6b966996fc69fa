package vmm

import (
	"math/bits"

	"github.com/hullrt/hull/vmm/kvm"
)

// CPUID leaves and bits hull edits (Intel SDM vol. 2A "CPUID"; AMD APM
// vol. 3 appendix E).
const (
	leafFeatures      = 0x1
	leafCacheParams   = 0x4
	leafTopology      = 0xb
	leafTopologyV2    = 0x1f
	leafExtFeatures   = 0x80000001
	leafAddressSizes  = 0x80000008
	leafAMDTopology   = 0x8000001e
	cpuidHypervisor   = 1 << 31 // leaf 1 ECX: running under a hypervisor
	cpuidHTT          = 1 << 28 // leaf 1 EDX: EBX[23:16] counts logical processors
	cpuidCmpLegacy    = 1 << 1  // leaf 0x80000001 ECX (AMD): cores are not hyper-threads
	topologyLevelSMT  = 1
	topologyLevelCore = 2
)

// GuestCPUID derives what vCPU cpu of ncpus sees from CPUID, starting from
// what KVM supports on this host (KVM_GET_SUPPORTED_CPUID): the
// hypervisor bit set, and a topology that agrees with the MADT everywhere
// the guest may look for it — one package of ncpus cores, one thread per
// core, APIC ID = cpu. Leaf 0x1f is dropped so that Linux reads the
// topology from leaf 0xb, which is rewritten.
func GuestCPUID(supported []kvm.CPUIDEntry2, cpu, ncpus int) []kvm.CPUIDEntry2 {
	apicID := uint32(cpu)
	n := uint32(ncpus)
	coreBits := uint32(bits.Len32(n - 1)) // bits of APIC ID that number cores
	var out []kvm.CPUIDEntry2
	topologyDone := false
	for _, e := range supported {
		switch e.Function {
		case leafFeatures:
			e.ECX |= cpuidHypervisor
			e.EBX = e.EBX&0x0000ffff | n<<16 | apicID<<24
			if n > 1 {
				e.EDX |= cpuidHTT
			}
		case leafCacheParams:
			// EAX[31:26]: cores per package - 1; EAX[25:14]: threads
			// sharing this cache - 1 (all cores share L3, none share L1/L2).
			level := e.EAX >> 5 & 7
			sharing := uint32(0)
			if level >= 3 {
				sharing = n - 1
			}
			e.EAX = e.EAX&0x3fff | sharing<<14 | (n-1)<<26
		case leafTopology:
			if topologyDone {
				continue
			}
			topologyDone = true
			out = append(out, topology(apicID, n, coreBits)...)
			continue
		case leafTopologyV2:
			continue
		case leafExtFeatures:
			if n > 1 {
				e.ECX |= cpuidCmpLegacy
			}
		case leafAddressSizes:
			// ECX[15:12]: APIC ID bits for cores; ECX[7:0]: cores - 1.
			e.ECX = e.ECX&^0xf0ff | coreBits<<12 | (n - 1)
		case leafAMDTopology:
			e.EAX = apicID // extended APIC ID
			e.EBX = apicID // compute unit (core) ID, one thread per core
			e.ECX = 0      // node 0 of one
		}
		out = append(out, e)
	}
	return out
}

// topology is leaf 0xb: subleaf 0 the SMT level (one thread per core),
// subleaf 1 the core level (ncpus cores), subleaf 2 the invalid level
// that ends the list; EDX is the x2APIC ID in each.
func topology(apicID, n, coreBits uint32) []kvm.CPUIDEntry2 {
	flags := uint32(kvm.KVM_CPUID_FLAG_SIGNIFCANT_INDEX)
	return []kvm.CPUIDEntry2{
		{Function: leafTopology, Index: 0, Flags: flags, EAX: 0, EBX: 1, ECX: 0 | topologyLevelSMT<<8, EDX: apicID},
		{Function: leafTopology, Index: 1, Flags: flags, EAX: coreBits, EBX: n, ECX: 1 | topologyLevelCore<<8, EDX: apicID},
		{Function: leafTopology, Index: 2, Flags: flags, EAX: 0, EBX: 0, ECX: 2, EDX: apicID},
	}
}

// MSR indices (arch/x86/include/asm/msr-index.h) set before the first run.
const (
	MSR_IA32_TSC                     = 0x10
	MSR_IA32_SYSENTER_CS             = 0x174
	MSR_IA32_SYSENTER_ESP            = 0x175
	MSR_IA32_SYSENTER_EIP            = 0x176
	MSR_IA32_MISC_ENABLE             = 0x1a0
	MSR_MTRRdefType                  = 0x2ff
	MSR_STAR                         = 0xc0000081
	MSR_LSTAR                        = 0xc0000082
	MSR_CSTAR                        = 0xc0000083
	MSR_SYSCALL_MASK                 = 0xc0000084
	MSR_KERNEL_GS_BASE               = 0xc0000102
	MSR_IA32_MISC_ENABLE_FAST_STRING = 1 << 0
	mtrrEnable                       = 1 << 11
	mtrrTypeWriteBack                = 6
)

// bootMSRs are the MSR values a vCPU starts with: syscall and sysenter
// entry points cleared (the kernel sets its own), fast string operations
// on, and MTRRs enabled with write-back as the default memory type (without
// it Linux maps all RAM uncached and boots many times slower).
func bootMSRs() []kvm.MSREntry {
	return []kvm.MSREntry{
		{Index: MSR_IA32_SYSENTER_CS}, {Index: MSR_IA32_SYSENTER_ESP}, {Index: MSR_IA32_SYSENTER_EIP},
		{Index: MSR_STAR}, {Index: MSR_CSTAR}, {Index: MSR_KERNEL_GS_BASE},
		{Index: MSR_SYSCALL_MASK}, {Index: MSR_LSTAR}, {Index: MSR_IA32_TSC},
		{Index: MSR_IA32_MISC_ENABLE, Data: MSR_IA32_MISC_ENABLE_FAST_STRING},
		{Index: MSR_MTRRdefType, Data: mtrrEnable | mtrrTypeWriteBack},
	}
}
