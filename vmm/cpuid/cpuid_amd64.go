package cpuid

// Available reports whether this architecture has the CPUID instruction,
// so that Native answers for real.
const Available = true

// native executes CPUID; it is written in cpuid_amd64.s.
//
//go:noescape
func native(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
