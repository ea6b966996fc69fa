package acpi

import (
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

var twoDevices = Config{CPUs: 2, Devices: []MMIODevice{
	{Base: 0xd0000000, Size: 0x1000, GSI: 5},
	{Base: 0xd0001000, Size: 0x1000, GSI: 6},
}, Serial: []SerialPort{{Base: 0x3f8, GSI: 4}}, PowerButtonGSI: 23}

func TestEISAID(t *testing.T) {
	if got := eisaID("PNP0501"); got != 0x0105d041 {
		t.Errorf("eisaID(PNP0501) = %#x, want 0x0105d041", got)
	}
}

func TestPkgLength(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x01}},
		{62, []byte{0x3f}},
		{63, []byte{0x41, 0x04}}, // 65 = 0x41: low nibble 1, then 0x04
		{4093, []byte{0x4f, 0xff}},
		{4094, []byte{0x81, 0x00, 0x01}},
		{1 << 20, []byte{0xc4, 0x00, 0x00, 0x01}},
	} {
		if got := pkgLength(tt.n); string(got) != string(tt.want) {
			t.Errorf("pkgLength(%d) = % x, want % x", tt.n, got, tt.want)
		}
	}
}

func TestChecksums(t *testing.T) {
	base := uint64(0xe0000)
	blob, err := Build(twoDevices, base)
	if err != nil {
		t.Fatal(err)
	}
	rsdp := blob[:36]
	if sum(rsdp[:20]) != 0 || sum(rsdp) != 0 {
		t.Errorf("RSDP checksums: first 20 bytes sum to %#x, all 36 to %#x", sum(rsdp[:20]), sum(rsdp))
	}
	// Follow the pointers as a kernel does.
	at := func(addr uint64) []byte {
		off := addr - base
		n := le.Uint32(blob[off+4:])
		return blob[off : off+uint64(n)]
	}
	xsdt := at(le.Uint64(rsdp[24:]))
	seen := map[string]bool{}
	check := func(tbl []byte) {
		sig := string(tbl[:4])
		seen[sig] = true
		if s := sum(tbl); s != 0 {
			t.Errorf("%s: bytes sum to %#x, want 0", sig, s)
		}
	}
	check(xsdt)
	for off := 36; off < len(xsdt); off += 8 {
		tbl := at(le.Uint64(xsdt[off:]))
		check(tbl)
		if string(tbl[:4]) == "FACP" {
			if len(tbl) != 276 {
				t.Errorf("FADT is %d bytes, want 276", len(tbl))
			}
			check(at(le.Uint64(tbl[140:])))
		}
	}
	for _, sig := range []string{"XSDT", "FACP", "APIC", "DSDT"} {
		if !seen[sig] {
			t.Errorf("%s not reachable from the RSDP", sig)
		}
	}
}

func TestGolden(t *testing.T) {
	blob, err := Build(twoDevices, 0xe0000)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tables-2cpu-2dev", hex.Dump(blob))
}

// MADT has one enabled local APIC per vCPU.
func TestMADTCPUs(t *testing.T) {
	for _, n := range []int{1, 2, 8} {
		m := MADT(Config{CPUs: n})
		var lapics int
		for off := 44; off < len(m); off += int(m[off+1]) {
			if m[off] == madtLocalAPIC {
				if m[off+3] != byte(lapics) || le.Uint32(m[off+4:]) != 1 {
					t.Errorf("%d CPUs: local APIC entry %d = % x", n, lapics, m[off:off+8])
				}
				lapics++
			}
		}
		if lapics != n {
			t.Errorf("MADT for %d CPUs has %d local APICs", n, lapics)
		}
	}
	if _, err := Build(Config{CPUs: 0}, 0); err == nil {
		t.Error("Build with 0 CPUs succeeded")
	}
}

// The DSDT disassembles with ACPICA's iasl, when the machine has it
// (Debian: acpica-tools), to the devices and _S5 hull meant.
func TestDSDTDisassembles(t *testing.T) {
	iasl, err := exec.LookPath("iasl")
	if err != nil {
		t.Skip("iasl (acpica-tools) is not installed; the golden bytes still pin the DSDT")
	}
	dir := t.TempDir()
	aml := filepath.Join(dir, "dsdt.aml")
	if err := os.WriteFile(aml, DSDT(twoDevices), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(iasl, "-d", aml).CombinedOutput()
	if err != nil {
		t.Fatalf("iasl -d: %v\n%s", err, out)
	}
	dsl, err := os.ReadFile(filepath.Join(dir, "dsdt.dsl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`Device (VR00)`, `Device (VR01)`, `Name (_HID, "LNRO0005")`,
		`Memory32Fixed (ReadWrite,`, `0xD0001000,         // Address Base`,
		`Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )`,
		`0x00000006,`, `Name (_S5, Package (0x02)`,
		`Device (PWRB)`, `EisaId ("PNP0C0C")`, `Device (GED0)`, `Name (_HID, "ACPI0013"`,
		`Method (_EVT, 1, NotSerialized)`, `If ((Arg0 == 0x17))`, `Notify (\_SB.PWRB, 0x80)`,
		`Device (COM1)`, `Name (_HID, EisaId ("PNP0501")`, `IO (Decode16,`, `0x03F8,             // Range Minimum`,
	} {
		if !strings.Contains(string(dsl), want) {
			t.Errorf("disassembled DSDT lacks %q:\n%s", want, dsl)
		}
	}
}
