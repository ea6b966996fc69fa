//go:build !amd64

package cpuid

// Available reports whether this architecture has the CPUID instruction,
// so that Native answers for real. Only amd64 does among hull's targets;
// elsewhere Native returns zeros, which Decode reads as "no CPUID".
const Available = false

func native(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) { return 0, 0, 0, 0 }
