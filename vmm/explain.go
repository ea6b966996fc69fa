package vmm

import (
	"fmt"
	"os"
	"strings"

	"github.com/hullrt/hull/vmm/acpi"
	"github.com/hullrt/hull/vmm/boot"
	"github.com/hullrt/hull/vmm/devices"
)

// plannedDevice is one virtio device's place in the machine.
type plannedDevice struct {
	Kind string // "block", "rng", "vsock", "net"
	What string // the disk, tap or CID
	Base uint64 // its virtio-mmio window
	GSI  uint32 // its IOAPIC pin
}

// deviceLayout places the virtio devices: disks, then the entropy
// device, the socket device and network devices, each in its own window
// from virtioMMIOBase and on its own pin from firstDeviceGSI.
func deviceLayout(c Config) []plannedDevice {
	var out []plannedDevice
	add := func(kind, what string) {
		i := len(out)
		out = append(out, plannedDevice{kind, what, uint64(virtioMMIOBase + i*virtioMMIOSize), uint32(firstDeviceGSI + i)})
	}
	for _, d := range c.Disks {
		what := d.Path
		if d.ReadOnly {
			what += " (read-only)"
		}
		add("block", what)
	}
	if c.RNG {
		add("rng", "getrandom(2)")
	}
	if c.VsockCID != 0 {
		add("vsock", fmt.Sprintf("CID %d via /dev/vhost-vsock", c.VsockCID))
	}
	for _, n := range c.Net {
		what := "tap " + n.Tap
		if n.Bridge != "" {
			what = "new tap on bridge " + n.Bridge
		}
		add("net", what)
	}
	return out
}

// Explain describes, without touching KVM, the machine Start would build
// for cfg: where the kernel, command line, initrd and boot structures go,
// the e820 map, every device with its address and interrupt, and the
// ACPI tables. It is what "hull vm run --explain" prints.
func Explain(cfg Config) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	cfg = cfg.withDefaults()
	kernelBytes, err := os.ReadFile(cfg.Kernel)
	if err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	kernel, err := boot.ParseKernel(kernelBytes)
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", cfg.Kernel, err)
	}
	var initrdSize uint64
	if cfg.Initrd != "" {
		st, err := os.Stat(cfg.Initrd)
		if err != nil {
			return "", fmt.Errorf("initrd: %w", err)
		}
		initrdSize = uint64(st.Size())
	}
	plan, err := boot.MakePlan(kernel, boot.Params{
		MemSize: cfg.MemoryMiB << 20, Cmdline: cfg.Cmdline, InitrdSize: initrdSize, RSDPAddr: boot.ACPIAddr,
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "machine   %d vCPU(s), %d MiB, KVM in-kernel PIC+IOAPIC+LAPICs and i8254 PIT\n", cfg.CPUs, cfg.MemoryMiB)
	fmt.Fprintf(&b, "cmdline   %s\n", cfg.Cmdline)
	b.WriteString(plan.String())
	fmt.Fprintf(&b, "acpi      RSDP %#x → XSDT → FADT (hardware-reduced), MADT (%d local APICs, IOAPIC %#x), DSDT\n", boot.ACPIAddr, cfg.CPUs, acpi.IOAPICAddr)
	fmt.Fprintf(&b, "port      %#x-%#x 16550A UART (COM1, GSI %d): the console\n", devices.COM1Port, devices.COM1Port+7, devices.COM1IRQ)
	fmt.Fprintf(&b, "port      %#x, %#x i8042 (reset line only)\n", devices.I8042DataPort, devices.I8042CommandPort)
	fmt.Fprintf(&b, "port      %#x ACPI sleep control (S5 = power off), %#x sleep status, %#x reset register\n", acpi.SleepControlPort, acpi.SleepStatusPort, acpi.ResetPort)
	fmt.Fprintf(&b, "gsi       %d ACPI Generic Event Device: the power button\n", powerButtonGSI)
	for _, d := range deviceLayout(cfg) {
		fmt.Fprintf(&b, "virtio    %#x-%#x GSI %-2d %-5s %s\n", d.Base, d.Base+virtioMMIOSize-1, d.GSI, d.Kind, d.What)
	}
	return b.String(), nil
}
