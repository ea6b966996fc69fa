package hull_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/hullrt/hull"
)

// Check judges a machine; here one recorded with "hull check --record",
// whose firmware disabled VT-x. The items that keep micro-VMs from running
// say what was read and what to do.
func ExampleCheck() {
	r, err := hull.Check(context.Background(), hull.WithFixture("testdata/check/intel-vtx-disabled-legacy"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("containers can run:", r.Containers.OK)
	fmt.Println("micro-VMs can run:", r.VMs.OK)
	for _, it := range r.Items {
		if it.Blocks(hull.ForVMs) {
			fmt.Printf("%s/%s: %s\n  remedy: %s\n", it.Section, it.Name, it.Detail, it.Remedy)
		}
	}
	// Output:
	// containers can run: true
	// micro-VMs can run: false
	// virtualization/firmware: IA32_FEATURE_CONTROL (0x3a) = 0x1: lock set, VMX outside SMX clear: the firmware disabled VT-x (VMX)
	//   remedy: enable Intel Virtualization Technology (VT-x) in the firmware setup, then power the machine off and on
	// kvm/module: /sys/module/kvm_intel: not loaded, and it refuses to load while the firmware disables VT-x (VMX)
	//   remedy: first enable Intel Virtualization Technology (VT-x) in the firmware setup (see virtualization/firmware), then modprobe kvm_intel
	// kvm/device: stat(/dev/kvm): no such file: the kernel offers no KVM
	//   remedy: first enable Intel Virtualization Technology (VT-x) in the firmware setup (see virtualization/firmware)
}

// Record writes this machine into a directory that WithFixture replays
// anywhere: attach it to a bug report.
func ExampleRecord() {
	dir, err := os.MkdirTemp("", "machine-")
	if err != nil {
		log.Fatal(err)
	}
	if err := hull.Record(context.Background(), dir+"/recorded"); err != nil {
		log.Fatal(err)
	}
	r, err := hull.Check(context.Background(), hull.WithFixture(dir+"/recorded"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.CgroupMode)
}
