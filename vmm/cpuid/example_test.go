package cpuid_test

import (
	"fmt"

	"github.com/hullrt/hull/vmm/cpuid"
)

// Decode reads what the processor says about virtualization. On hull's
// development hosts, guests of bhyve, it shows an AMD CPU whose SVM the
// hypervisor hides.
func ExampleDecode() {
	in := cpuid.Decode(cpuid.Native)
	fmt.Printf("%s: %s offered: %v\n", in.Vendor, in.Extension(), in.HasVirtualization())
	if in.Hypervisor {
		fmt.Println("running under", in.HypervisorName())
	}
}

// A Recording replays another machine's leaves: here an Intel CPU whose
// leaf 1 ECX has bit 5 (VMX) set.
func ExampleRecording() {
	rec := cpuid.Recording{
		{Leaf: 0, Regs: cpuid.Regs{EAX: 0x16, EBX: 0x756e6547, ECX: 0x6c65746e, EDX: 0x49656e69}},
		{Leaf: 1, Regs: cpuid.Regs{EAX: 0x000906ea, ECX: 0x7ffafbbf}},
	}
	in := cpuid.Decode(rec.Func())
	fmt.Println(in.Vendor, in.Family, in.Model, in.VMX)
	// Output: GenuineIntel 6 158 true
}
