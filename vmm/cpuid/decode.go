package cpuid

import (
	"encoding/binary"
	"strings"
)

// CPUID leaves and bits, named as in the Intel SDM vol. 2A "CPUID" and the
// AMD APM vol. 3 appendix E, and as in the kernel's
// arch/x86/include/asm/cpufeatures.h (X86_FEATURE_VMX, _SVM, _NPT,
// _HYPERVISOR).
const (
	leafVendor     = 0x0        // EAX max basic leaf; EBX,EDX,ECX vendor
	leafFeatures   = 0x1        // EAX signature; ECX, EDX feature flags
	leafHypervisor = 0x40000000 // EAX max hypervisor leaf; EBX,ECX,EDX signature
	leafExtMax     = 0x80000000 // EAX max extended leaf
	leafExtFeature = 0x80000001 // ECX extended feature flags (AMD)
	leafBrand      = 0x80000002 // ..0x80000004: 48-byte brand string
	leafSVM        = 0x8000000a // AMD SVM features

	bitVMX        = 1 << 5  // leaf 1 ECX: Virtual Machine Extensions (VT-x)
	bitHypervisor = 1 << 31 // leaf 1 ECX: "running under a hypervisor"
	bitSVM        = 1 << 2  // leaf 0x80000001 ECX: Secure Virtual Machine (AMD-V)
	bitNPT        = 1 << 0  // leaf 0x8000000a EDX: nested page tables
)

// Vendor strings from leaf 0.
const (
	VendorIntel   = "GenuineIntel"
	VendorAMD     = "AuthenticAMD"
	VendorHygon   = "HygonGenuine" // AMD's licensed Zen: SVM, like AMD
	VendorCentaur = "CentaurHauls" // Centaur / Zhaoxin: VMX, like Intel
	VendorZhaoxin = "  Shanghai  "
)

// Info is what CPUID says about virtualization on this processor.
type Info struct {
	Vendor     string // leaf 0 EBX,EDX,ECX, e.g. "AuthenticAMD"; "" without CPUID
	Brand      string // leaves 0x80000002..4, trimmed
	Family     uint32 // leaf 1 EAX, display family (base + extended)
	Model      uint32 // leaf 1 EAX, display model
	Stepping   uint32
	MaxLeaf    uint32 // leaf 0 EAX
	MaxExtLeaf uint32 // leaf 0x80000000 EAX

	VMX bool // Intel VT-x: leaf 1 ECX bit 5
	SVM bool // AMD-V: leaf 0x80000001 ECX bit 2
	// NPT is AMD's nested paging, leaf 0x8000000a EDX bit 0 (read only
	// when SVM is set). Intel's EPT is not in CPUID; see ReadEPT.
	NPT bool

	Hypervisor bool // leaf 1 ECX bit 31: we are a guest
	// HypervisorSignature is the 12 bytes of leaf 0x40000000 EBX,ECX,EDX
	// with trailing NULs removed ("KVMKVMKVM", "Microsoft Hv"), set only
	// when Hypervisor is.
	HypervisorSignature string
	MaxHypervisorLeaf   uint32
}

// Decode reads the processor's identity and virtualization features
// through f. It never reads a leaf above the maximum the CPU reports.
func Decode(f Func) Info {
	var in Info
	r := f(leafVendor, 0)
	in.MaxLeaf = r.EAX
	in.Vendor = strings.TrimRight(string(regBytes(r.EBX, r.EDX, r.ECX)), "\x00")
	if in.MaxLeaf >= leafFeatures {
		r = f(leafFeatures, 0)
		in.Family, in.Model, in.Stepping = signature(r.EAX)
		in.VMX = r.ECX&bitVMX != 0
		in.Hypervisor = r.ECX&bitHypervisor != 0
	}
	if in.Hypervisor {
		r = f(leafHypervisor, 0)
		in.MaxHypervisorLeaf = r.EAX
		in.HypervisorSignature = strings.TrimRight(string(regBytes(r.EBX, r.ECX, r.EDX)), "\x00")
	}
	r = f(leafExtMax, 0)
	if r.EAX&0xffff0000 == leafExtMax { // a real extended range, not garbage
		in.MaxExtLeaf = r.EAX
	}
	if in.MaxExtLeaf >= leafExtFeature {
		in.SVM = f(leafExtFeature, 0).ECX&bitSVM != 0
	}
	if in.MaxExtLeaf >= leafBrand+2 {
		var b []byte
		for l := uint32(leafBrand); l <= leafBrand+2; l++ {
			r = f(l, 0)
			b = append(b, regBytes(r.EAX, r.EBX, r.ECX, r.EDX)...)
		}
		in.Brand = strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
	}
	if in.SVM && in.MaxExtLeaf >= leafSVM {
		in.NPT = f(leafSVM, 0).EDX&bitNPT != 0
	}
	return in
}

// signature decodes leaf 1 EAX into the display family and model, the way
// the SDM says: the extended family is added only for family 0xf, the
// extended model is prepended for families 0x6 and 0xf.
func signature(eax uint32) (family, model, stepping uint32) {
	stepping = eax & 0xf
	model = eax >> 4 & 0xf
	family = eax >> 8 & 0xf
	if family == 0xf {
		family += eax >> 20 & 0xff
	}
	if family == 0x6 || family >= 0xf {
		model |= (eax >> 16 & 0xf) << 4
	}
	return family, model, stepping
}

func regBytes(regs ...uint32) []byte {
	b := make([]byte, 0, 4*len(regs))
	for _, r := range regs {
		b = binary.LittleEndian.AppendUint32(b, r)
	}
	return b
}

// IntelLike reports whether the vendor implements VMX (Intel, Centaur,
// Zhaoxin); AMDLike whether it implements SVM (AMD, Hygon).
func (in Info) IntelLike() bool {
	return in.Vendor == VendorIntel || in.Vendor == VendorCentaur || in.Vendor == VendorZhaoxin
}

// AMDLike reports whether the vendor implements SVM (AMD, Hygon).
func (in Info) AMDLike() bool { return in.Vendor == VendorAMD || in.Vendor == VendorHygon }

// Extension names the hardware virtualization extension the vendor
// implements: "VT-x (VMX)", "AMD-V (SVM)", or "" for an unknown vendor.
func (in Info) Extension() string {
	switch {
	case in.IntelLike():
		return "VT-x (VMX)"
	case in.AMDLike():
		return "AMD-V (SVM)"
	}
	return ""
}

// HasVirtualization reports whether CPUID offers VMX or SVM.
func (in Info) HasVirtualization() bool { return in.VMX || in.SVM }

// hypervisors maps leaf 0x40000000 signatures to the products that use
// them (as listed in the kernel's arch/x86/kernel/cpu/hypervisor.c and the
// hypervisors' own documentation).
var hypervisors = map[string]string{
	"KVMKVMKVM":    "KVM",
	"Linux KVM Hv": "KVM (with Hyper-V enlightenments)",
	"Microsoft Hv": "Microsoft Hyper-V",
	"VMwareVMware": "VMware",
	"XenVMMXenVMM": "Xen",
	"TCGTCGTCGTCG": "QEMU (TCG software emulation)",
	"bhyve bhyve":  "bhyve",
	"VBoxVBoxVBox": "VirtualBox",
	"ACRNACRNACRN": "ACRN",
	" lrpepyh  vr": "Parallels",
	"QNXQVMBSQG":   "QNX hypervisor",
	"Jailhouse":    "Jailhouse",
}

// HypervisorName is the product behind HypervisorSignature, the signature
// itself (quoted) when it is not a known one, or "" outside a VM.
func (in Info) HypervisorName() string {
	if !in.Hypervisor {
		return ""
	}
	if n, ok := hypervisors[strings.TrimSpace(in.HypervisorSignature)]; ok {
		return n
	}
	if n, ok := hypervisors[in.HypervisorSignature]; ok {
		return n
	}
	if in.HypervisorSignature == "" {
		return "an unnamed hypervisor"
	}
	return `"` + in.HypervisorSignature + `"`
}
