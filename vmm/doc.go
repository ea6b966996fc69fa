// Package vmm runs Linux micro-VMs on /dev/kvm: no QEMU, no firmware.
//
// Start takes a Config (a documented JSON object), checks the host's KVM,
// builds the machine and starts its vCPUs; Wait returns how the run ended
// (the guest powered off or rebooted, crashed with KVM's reason and the
// vCPU's registers, or the host stopped it).
//
// # The machine
//
// Guest RAM is anonymous host memory registered with
// KVM_SET_USER_MEMORY_REGION, split around a 32-bit MMIO hole at 3 GiB.
// KVM's in-kernel interrupt controllers (PIC, IOAPIC, a local APIC per
// vCPU) and i8254 timer are used; hull emulates only what sits behind an
// exit: a 16550A UART on COM1 for the console, the ACPI sleep control and
// reset registers through which the guest powers off and reboots, a
// minimal i8042 (for reboot=k), and virtio-mmio devices (block, entropy,
// network on a tap, vsock through vhost).
// ACPI tables (package acpi) describe all of it; package acpi's
// documentation says why virtio-mmio in the DSDT rather than PCI. Package
// boot loads the kernel: a distribution's bzImage, entered directly in
// 64-bit mode, or an ELF vmlinux, through its PVH note when it has one.
//
// # Threads
//
//	vCPU n   one goroutine locked to its OS thread (KVM requires every
//	         vCPU ioctl from the thread that runs it): KVM_RUN, decode the
//	         exit (kvm.DecodeExit), dispatch it to the port-I/O or MMIO
//	         bus, repeat. Devices are called on this thread.
//	notify   one goroutine per virtio device, polling the ioeventfds KVM
//	         signals when the guest kicks a queue; it serves the queue and
//	         raises the device's irqfd.
//	caller   Start, then Wait; Stop or a cancelled context ends the run by
//	         setting immediate_exit in every kvm_run and signalling each
//	         vCPU thread (SIGURG, which Go's runtime already handles) so
//	         that a vCPU sleeping in KVM_RUN returns.
//
// Devices lock their own state; the buses are built before the vCPUs run
// and never change.
//
// # Memory
//
// A VM's process holds its guest's RAM and hull's own overhead, which
// MemoryStats measures (and hull vm inspect shows): the resident set less
// the guest RAM touched. Most of that overhead is the Go runtime and the
// hull binary: its heap, thread stacks, and the pages of its code and
// pclntab that the process has mapped, which the kernel maps 64 KiB at a
// time around each page touched and which the garbage collector's stack
// scans touch on every cycle. Start keeps images out of the heap (the
// kernel and initrd are mapped, copied into guest RAM, and unmapped), the
// console keeps a fixed replay ring, and ReleaseSetupMemory lets a
// process whose purpose is its VMs give back, once they run, the heap
// and the code pages that setting them up took.
//
// # Trust
//
// Every vCPU runs hostile code. Everything an exit carries — port, address,
// size, data — and everything a virtio driver puts in guest memory — ring
// indices, descriptor addresses and lengths — is checked before use: guest
// memory is reached only through memory.Guest.Slice, which refuses ranges
// outside guest RAM; a malformed virtqueue stops its device (which then
// asks the guest for a reset), never hull. A guest can crash itself, and
// the run ends with the reason; it cannot crash or hang hull, or make it
// touch host memory outside the guest's.
package vmm
