package vmm_test

import (
	"context"
	"fmt"
	"os"

	"github.com/hullrt/hull/vmm"
)

// Boot a distribution kernel with its console on stdout and wait for the
// guest to power off.
func ExampleStart() {
	vm, err := vmm.Start(context.Background(), vmm.Config{
		Kernel:    "/boot/vmlinuz-6.1.0-56-amd64",
		Initrd:    "/boot/initrd.img-6.1.0-56-amd64",
		Cmdline:   "console=ttyS0 root=/dev/vda ro",
		CPUs:      2,
		MemoryMiB: 512,
		Disks:     []vmm.Disk{{Path: "root.img"}},
	}, vmm.WithConsole(os.Stdout))
	if err != nil {
		fmt.Println(err)
		return
	}
	res := vm.Wait()
	if err := res.Err(); err != nil {
		fmt.Println(err)
	}
}
