// Package devices holds hull's legacy platform devices and the bus that
// routes guest port I/O and MMIO to them.
//
// A vCPU exits to the VMM when the guest touches an I/O port or an
// address no memory backs. The VMM hands the access to a Bus, which finds
// the device whose window holds it and calls the device with the offset
// into that window: devices never see absolute addresses, and an access
// that straddles a window's edge, or lands on no device, reaches nothing
// (reads return all ones, as an open bus does).
//
// The devices here are the few a Linux guest needs before virtio: a
// 16550A UART for the console (COM1, IRQ 4), the ACPI sleep control,
// sleep status and reset registers of a hardware-reduced platform (how
// the guest powers off and reboots), and enough of the i8042 keyboard
// controller to reset through it. Timers and interrupt controllers (PIT,
// PIC, IOAPIC, local APICs) are KVM's in-kernel ones.
//
// Every value a device reads from the guest is untrusted: offsets,
// sizes and data are checked, and no access panics.
package devices
