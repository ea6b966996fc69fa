// Package acpi builds the ACPI tables through which a Linux guest
// discovers hull's virtual machine: its CPUs, interrupt controllers,
// devices, and how to power off.
//
// A kernel finds the RSDP (from the zero page's acpi_rsdp_addr, or by
// scanning the BIOS area at 0xe0000), follows it to the XSDT, and from
// there reads the FADT (fixed hardware: here "hardware-reduced", with a
// sleep control register for power-off and a reset register), the MADT (a
// local APIC per vCPU, which is how Linux learns it may bring up more
// than one CPU, and the IOAPIC) and the DSDT, whose AML names the devices.
//
// # Why virtio-mmio described in ACPI, not PCI
//
// Debian's kernel builds virtio_mmio and virtio_pci as modules and leaves
// CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES unset, so devices cannot be handed
// over on the command line: either ACPI names them or PCI enumerates them.
// hull chooses virtio-mmio in the DSDT (_HID "LNRO0005", as Firecracker
// and QEMU's microvm do) because it needs no PCI host bridge, config space
// or MSI-X emulation: each device is one 4 KiB register window and one
// edge-triggered IOAPIC interrupt driven by an irqfd, and the guest
// enumerates nothing at boot, which keeps boots short and the attack
// surface small. The cost: at most the IOAPIC's free pins (19 devices),
// and no hotplug.
//
// Every table's checksum makes its bytes sum to zero; tests check that,
// and golden files pin the bytes.
package acpi
