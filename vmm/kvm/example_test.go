package kvm_test

import (
	"fmt"

	"github.com/hullrt/hull/vmm/kvm"
)

// ProbeHost says whether this machine can run micro-VMs, and why not.
func ExampleProbeHost() {
	r := kvm.ProbeHost(kvm.DefaultDevice)
	if err := r.Err(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: KVM API %d\n", r.Device, r.APIVersion)
	for _, c := range r.Caps {
		fmt.Printf("  %-30s %4d  %s\n", c.Name, c.Value, c.Why)
	}
}
