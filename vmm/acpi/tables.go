package acpi

import (
	"encoding/binary"
	"fmt"
)

var le = binary.LittleEndian

// Identity written into every table header.
const (
	oemID       = "HULL  "
	oemTableID  = "HULLVM  "
	creatorID   = "HULL"
	oemRevision = 1
	creatorRev  = 1
)

// Fixed platform addresses and ports the tables describe.
const (
	LAPICAddr  = 0xfee00000
	IOAPICAddr = 0xfec00000
	// SleepControlPort is the FADT sleep control register (8 bits): the
	// guest writes SLP_EN|SLP_TYP<<2 to enter a sleep state; with the
	// _S5 package below, 0x34 means power off.
	SleepControlPort = 0x600
	// SleepStatusPort is the FADT sleep status register (8 bits).
	SleepStatusPort = 0x601
	// ResetPort and ResetValue are the FADT reset register, as on a PC's
	// reset control register.
	ResetPort  = 0xcf9
	ResetValue = 0x06
	// S5SleepType is SLP_TYP for S5 (soft off) in the _S5 package.
	S5SleepType = 5
)

// MMIODevice is a virtio-mmio device window and its interrupt.
type MMIODevice struct {
	Base, Size uint32
	GSI        uint32
}

// SerialPort is a 16550 UART at an I/O port base with its interrupt.
type SerialPort struct {
	Base uint16
	GSI  uint32
}

// Config is what the tables describe.
type Config struct {
	CPUs    int          // one local APIC each, APIC IDs 0..CPUs-1
	Devices []MMIODevice // virtio-mmio devices, in _UID order
	// Serial ports are named in the DSDT (PNP0501). On a hardware-reduced
	// platform Linux has no legacy PIC and so no fixed ISA IRQ numbers:
	// a UART it finds only by probing COM1 has no usable interrupt, and
	// its tty fails to open. Described in ACPI, the port gets its GSI
	// mapped like any other device.
	Serial []SerialPort
	// PowerButtonGSI, when not 0, adds an ACPI power button (PNP0C0C)
	// and the Generic Event Device (ACPI0013) that a hardware-reduced
	// platform signals it through: an edge on this GSI makes the GED run
	// _EVT, which notifies the button (0x80, "pressed"); Linux's button
	// driver turns that into KEY_POWER, on which systemd-logind or acpid
	// shut the guest down.
	PowerButtonGSI uint32
}

// notifyPressed is the power button's Notify value for a press.
const notifyPressed = 0x80

// header writes a System Description Table header; the checksum is filled
// in by finish.
func header(sig string, revision byte) []byte {
	h := make([]byte, 36)
	copy(h[0:4], sig)
	h[8] = revision
	copy(h[10:16], oemID)
	copy(h[16:24], oemTableID)
	le.PutUint32(h[24:], oemRevision)
	copy(h[28:32], creatorID)
	le.PutUint32(h[32:], creatorRev)
	return h
}

// finish sets a table's length and checksum (the bytes sum to zero).
func finish(t []byte) []byte {
	le.PutUint32(t[4:], uint32(len(t)))
	t[9] = 0
	t[9] = -sum(t)
	return t
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// DSDT is the Differentiated System Description Table: AML naming each
// virtio-mmio device (_HID "LNRO0005", the ID Linux's virtio_mmio driver
// matches) with its register window and interrupt, and the _S5 sleep type
// that lets the guest power off.
func DSDT(c Config) []byte {
	var devs [][]byte
	for i, p := range c.Serial {
		devs = append(devs, amlDevice(fmt.Sprintf("COM%d", i+1),
			amlName("_HID", amlInteger(uint64(eisaID("PNP0501")))),
			amlName("_UID", amlInteger(uint64(i))),
			amlName("_CRS", resourceTemplate(ioPort(p.Base, 8), extendedInterrupt(p.GSI))),
		))
	}
	for i, d := range c.Devices {
		devs = append(devs, amlDevice(fmt.Sprintf("VR%02X", i),
			amlName("_HID", amlString("LNRO0005")),
			amlName("_UID", amlInteger(uint64(i))),
			amlName("_CRS", resourceTemplate(memory32Fixed(d.Base, d.Size), extendedInterrupt(d.GSI))),
		))
	}
	if g := c.PowerButtonGSI; g != 0 {
		devs = append(devs,
			amlDevice("PWRB",
				amlName("_HID", amlInteger(uint64(eisaID("PNP0C0C")))),
				amlName("_UID", amlInteger(0)),
			),
			amlDevice("GED0",
				amlName("_HID", amlString("ACPI0013")),
				amlName("_UID", amlInteger(0)),
				amlName("_CRS", resourceTemplate(extendedInterrupt(g))),
				amlMethod("_EVT", 1, amlIf(amlLEqualArg0(uint64(g)), amlNotify("_SB_", "PWRB", notifyPressed))),
			),
		)
	}
	t := header("DSDT", 2)
	t = append(t, amlScope("_SB_", devs...)...)
	t = append(t, amlName("_S5_", amlPackage(S5SleepType, 0))...)
	return finish(t)
}

// Generic Address Structure address space IDs and access sizes.
const (
	gasSystemIO   = 1
	gasAccessByte = 1
)

// gas encodes a Generic Address Structure for an 8-bit I/O port.
func gas(port uint16) []byte {
	g := []byte{gasSystemIO, 8, 0, gasAccessByte}
	return le.AppendUint64(g, uint64(port))
}

// FADT flags and IA-PC boot architecture flags.
const (
	fadtResetRegSup   = 1 << 10
	fadtHWReducedACPI = 1 << 20
	iapcVGANotPresent = 1 << 2
	iapcCMOSRTCAbsent = 1 << 5
)

// FADT is the Fixed ACPI Description Table, revision 6.5. hull's platform
// is "hardware-reduced": no PM1 event/control blocks, no SCI, no PM timer;
// sleep goes through the sleep control and status registers, reset through
// the reset register. IAPC_BOOT_ARCH says there is no VGA, no CMOS RTC and
// no i8042 (so Linux does not probe one); reboot still reaches the i8042
// reset line hull emulates when the reset register is not used.
func FADT(dsdt uint64) []byte {
	t := header("FACP", 6)
	t = append(t, make([]byte, 276-36)...)
	le.PutUint32(t[40:], uint32(dsdt))                         // DSDT
	le.PutUint16(t[109:], iapcVGANotPresent|iapcCMOSRTCAbsent) // IAPC_BOOT_ARCH
	le.PutUint32(t[112:], fadtHWReducedACPI|fadtResetRegSup)   // Flags
	copy(t[116:128], gas(ResetPort))                           // RESET_REG
	t[128] = ResetValue                                        // RESET_VALUE
	t[131] = 5                                                 // FADT minor version: ACPI 6.5
	le.PutUint64(t[140:], dsdt)                                // X_DSDT
	copy(t[244:256], gas(SleepControlPort))                    // SLEEP_CONTROL_REG
	copy(t[256:268], gas(SleepStatusPort))                     // SLEEP_STATUS_REG
	copy(t[268:276], "HULLVMM\x00")                            // Hypervisor Vendor Identity
	return finish(t)
}

// MADT entry types.
const (
	madtLocalAPIC         = 0
	madtIOAPIC            = 1
	madtIntSourceOverride = 2
	madtLocalAPICNMI      = 4
	madtPCATCompat        = 1 << 0 // the legacy PIC pair is present
)

// MADT is the Multiple APIC Description Table: a local APIC per vCPU (how
// the guest finds its CPUs), the IOAPIC at GSI 0, the ISA timer IRQ 0
// routed to GSI 2 as on every PC, and LINT1 as NMI on every CPU.
func MADT(c Config) []byte {
	t := header("APIC", 5)
	t = le.AppendUint32(t, LAPICAddr)
	t = le.AppendUint32(t, madtPCATCompat)
	for i := 0; i < c.CPUs; i++ {
		t = append(t, madtLocalAPIC, 8, byte(i), byte(i))
		t = le.AppendUint32(t, 1) // enabled
	}
	t = append(t, madtIOAPIC, 12, byte(c.CPUs), 0)
	t = le.AppendUint32(t, IOAPICAddr)
	t = le.AppendUint32(t, 0) // GSI base
	t = append(t, madtIntSourceOverride, 10, 0, 0)
	t = le.AppendUint32(t, 2) // IRQ 0 → GSI 2
	t = le.AppendUint16(t, 0) // conforms to the bus: edge, active high
	t = append(t, madtLocalAPICNMI, 6, 0xff)
	t = le.AppendUint16(t, 0)
	t = append(t, 1) // LINT1
	return finish(t)
}

// XSDT lists the other tables by 64-bit address.
func XSDT(tables ...uint64) []byte {
	t := header("XSDT", 1)
	for _, a := range tables {
		t = le.AppendUint64(t, a)
	}
	return finish(t)
}

// RSDP is the Root System Description Pointer, revision 2: the first
// checksum covers the ACPI 1.0 part (20 bytes), the extended one all 36.
func RSDP(xsdt uint64) []byte {
	r := make([]byte, 36)
	copy(r[0:8], "RSD PTR ")
	copy(r[9:15], oemID)
	r[15] = 2 // revision
	le.PutUint32(r[20:], 36)
	le.PutUint64(r[24:], xsdt)
	r[8] = -sum(r[:20])
	r[32] = -sum(r)
	return r
}

// Build lays the tables out from guest physical address base: the RSDP
// first (so that a kernel scanning the BIOS area at 0xe0000 finds it),
// then XSDT, FADT, MADT and DSDT, each 16-byte aligned. It returns the
// bytes to place at base; the RSDP's address is base.
func Build(c Config, base uint64) ([]byte, error) {
	if c.CPUs < 1 || c.CPUs > 254 {
		return nil, fmt.Errorf("acpi: %d vCPUs, the MADT's 8-bit APIC IDs allow 1 to 254", c.CPUs)
	}
	align := func(n int) int { return (n + 15) &^ 15 }
	dsdt := DSDT(c)
	madt := MADT(c)
	rsdpOff := 0
	xsdtOff := align(rsdpOff + 36)
	xsdtLen := 36 + 8*2
	fadtOff := align(xsdtOff + xsdtLen)
	madtOff := align(fadtOff + 276)
	dsdtOff := align(madtOff + len(madt))
	fadt := FADT(base + uint64(dsdtOff))
	xsdt := XSDT(base+uint64(fadtOff), base+uint64(madtOff))
	out := make([]byte, dsdtOff+len(dsdt))
	copy(out[rsdpOff:], RSDP(base+uint64(xsdtOff)))
	copy(out[xsdtOff:], xsdt)
	copy(out[fadtOff:], fadt)
	copy(out[madtOff:], madt)
	copy(out[dsdtOff:], dsdt)
	return out, nil
}
