package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/vmm/kvm"
	"github.com/hullrt/hull/vmm/memory"
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

// bzImage fields a test may override.
type fakeHeader struct {
	version       uint16
	loadflags     uint8
	xloadflags    uint16
	relocatable   bool
	alignment     uint32
	prefAddress   uint64
	initSize      uint32
	initrdAddrMax uint32
	cmdlineSize   uint32
	setupSects    uint8
}

func defaultHeader() fakeHeader {
	return fakeHeader{
		version: 0x020f, loadflags: LOADED_HIGH, xloadflags: XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
		relocatable: true, alignment: 0x200000, prefAddress: 0x1000000, initSize: 0x2000000,
		initrdAddrMax: 0x7fffffff, cmdlineSize: 2047, setupSects: 3,
	}
}

// fakeBzImage builds the smallest bzImage the parser accepts: a boot
// sector and setup sectors holding the header, then a "protected-mode
// kernel" with a gzip payload magic.
func fakeBzImage(h fakeHeader) []byte {
	setup := int(h.setupSects)
	if setup == 0 {
		setup = 4
	}
	b := make([]byte, (setup+1)*512+0x1000)
	b[hdrSetupSects] = h.setupSects
	le.PutUint16(b[hdrBootFlag:], bootFlagMagic)
	b[hdrJump], b[hdrJump+1] = 0xeb, 0x6a // jmp to 0x26c, the end of a 2.15 header
	le.PutUint32(b[hdrHeader:], hdrSMagic)
	le.PutUint16(b[hdrVersion:], h.version)
	b[hdrLoadflags] = h.loadflags
	le.PutUint32(b[hdrInitrdAddrMax:], h.initrdAddrMax)
	le.PutUint32(b[hdrKernelAlignment:], h.alignment)
	if h.relocatable {
		b[hdrRelocatableKernel] = 1
	}
	b[hdrMinAlignment] = 21
	le.PutUint16(b[hdrXloadflags:], h.xloadflags)
	le.PutUint32(b[hdrCmdlineSize:], h.cmdlineSize)
	le.PutUint32(b[hdrPayloadOffset:], 0x100)
	le.PutUint32(b[hdrPayloadLength:], 0x200)
	le.PutUint64(b[hdrPrefAddress:], h.prefAddress)
	le.PutUint32(b[hdrInitSize:], h.initSize)
	kernel := b[(setup+1)*512:]
	copy(kernel[0x100:], "\x1f\x8b\x08")
	return b
}

func TestParseBzImage(t *testing.T) {
	img, err := ParseBzImage(fakeBzImage(defaultHeader()))
	if err != nil {
		t.Fatal(err)
	}
	h := img.Header
	if h.VersionString() != "2.15" || h.InitSize != 0x2000000 || !h.RelocatableKernel || h.KernelAlignment != 0x200000 {
		t.Errorf("header = %+v", h)
	}
	if len(img.Kernel) != 0x1000 || img.Compression != "gzip" {
		t.Errorf("kernel part %d bytes, compression %q; want 4096 bytes of gzip", len(img.Kernel), img.Compression)
	}
	if len(img.Setup) != 0x26c-0x1f1 {
		t.Errorf("setup header %d bytes, want %d", len(img.Setup), 0x26c-0x1f1)
	}
}

func TestParseBzImageRejects(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(h *fakeHeader, b []byte) []byte
		want   string
	}{
		{"short file", func(h *fakeHeader, b []byte) []byte { return b[:100] }, "too short"},
		{"no boot flag", func(h *fakeHeader, b []byte) []byte { b[hdrBootFlag] = 0; return b }, "boot_flag"},
		{"no HdrS", func(h *fakeHeader, b []byte) []byte { b[hdrHeader] = 'X'; return b }, "HdrS"},
		{"protocol 2.11", func(h *fakeHeader, b []byte) []byte { h.version = 0x020b; return fakeBzImage(*h) }, "version 2.11"},
		{"zImage", func(h *fakeHeader, b []byte) []byte { h.loadflags = 0; return fakeBzImage(*h) }, "LOADED_HIGH"},
		{"32-bit only", func(h *fakeHeader, b []byte) []byte { h.xloadflags = 0; return fakeBzImage(*h) }, "XLF_KERNEL_64"},
		{"odd alignment", func(h *fakeHeader, b []byte) []byte { h.alignment = 0x3000; return fakeBzImage(*h) }, "kernel_alignment"},
		{"no init_size", func(h *fakeHeader, b []byte) []byte { h.initSize = 0; return fakeBzImage(*h) }, "init_size"},
		{"fixed kernel without pref_address", func(h *fakeHeader, b []byte) []byte {
			h.relocatable, h.prefAddress = false, 0
			return fakeBzImage(*h)
		}, "pref_address"},
		{"setup past the end", func(h *fakeHeader, b []byte) []byte { b[hdrSetupSects] = 200; return b }, "setup_sects"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := defaultHeader()
			b := tt.change(&h, fakeBzImage(h))
			_, err := ParseBzImage(b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseBzImage error = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestPlanBzImage(t *testing.T) {
	k, err := ParseKernel(fakeBzImage(defaultHeader()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakePlan(k, Params{MemSize: 512 << 20, Cmdline: "console=ttyS0 reboot=k panic=1", InitrdSize: 3<<20 + 5, RSDPAddr: ACPIAddr})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-bzimage", p.String())
	zp, err := ZeroPage(k, p)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "zeropage-bzimage", DumpZeroPage(zp))
}

func TestPlanLargeMemorySplitsAroundHole(t *testing.T) {
	k, _ := ParseKernel(fakeBzImage(defaultHeader()))
	p, err := MakePlan(k, Params{MemSize: 4 << 30, Cmdline: "console=ttyS0"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-4g", p.String())
}

func TestPlanRelocation(t *testing.T) {
	for _, tt := range []struct {
		name     string
		change   func(*fakeHeader)
		wantLoad uint64
	}{
		{"at pref_address", func(h *fakeHeader) {}, 0x1000000},
		{"relocatable, pref below 1 MiB: 1 MiB rounded to kernel_alignment", func(h *fakeHeader) { h.prefAddress = 0 }, 0x200000},
		{"fixed at pref_address", func(h *fakeHeader) { h.relocatable = false; h.prefAddress = 0x400000 }, 0x400000},
	} {
		h := defaultHeader()
		tt.change(&h)
		k, err := ParseKernel(fakeBzImage(h))
		if err != nil {
			t.Fatal(err)
		}
		p, err := MakePlan(k, Params{MemSize: 256 << 20})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if p.LoadAddr != tt.wantLoad || p.Entry != tt.wantLoad+0x200 {
			t.Errorf("%s: load %#x entry %#x, want %#x and +0x200", tt.name, p.LoadAddr, p.Entry, tt.wantLoad)
		}
	}
}

func TestPlanRejects(t *testing.T) {
	k, _ := ParseKernel(fakeBzImage(defaultHeader()))
	small := defaultHeader()
	small.initrdAddrMax = 0x37ffffff
	kSmallMax, _ := ParseKernel(fakeBzImage(small))
	for _, tt := range []struct {
		name string
		k    *Kernel
		p    Params
		want string
	}{
		{"too little memory", k, Params{MemSize: 8 << 20}, "too little"},
		{"kernel beyond RAM (init_size)", k, Params{MemSize: 32 << 20}, "the kernel needs"},
		{"cmdline too long", k, Params{MemSize: 256 << 20, Cmdline: strings.Repeat("x", 2048)}, "at most 2047"},
		{"NUL in cmdline", k, Params{MemSize: 256 << 20, Cmdline: "a\x00b"}, "NUL"},
		{"initrd over kernel", k, Params{MemSize: 64 << 20, InitrdSize: 30 << 20}, "do not fit between"},
		{"initrd above initrd_addr_max", kSmallMax, Params{MemSize: 2 << 30, InitrdSize: 1 << 30}, "below initrd_addr_max"},
	} {
		if _, err := MakePlan(tt.k, tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: MakePlan error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	// initrd_addr_max is honoured: the initrd ends at or below it.
	p, err := MakePlan(kSmallMax, Params{MemSize: 2 << 30, InitrdSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if end := p.InitrdAddr + p.InitrdSize - 1; end > 0x37ffffff || p.InitrdAddr%4096 != 0 {
		t.Errorf("initrd at %#x ends at %#x, want page-aligned and ending at or below 0x37ffffff", p.InitrdAddr, end)
	}
}

// fakeELF builds an ELF64 vmlinux: one PT_LOAD at 16 MiB and a PT_NOTE
// holding Xen's PVH entry note, or, when pvh is false, another note.
func fakeELF(pvh bool) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	code := []byte{0xf4} // hlt
	note := new(bytes.Buffer)
	if pvh {
		binary.Write(note, binary.LittleEndian, []uint32{4, 4, XEN_ELFNOTE_PHYS32_ENTRY})
		note.WriteString("Xen\x00")
	} else {
		binary.Write(note, binary.LittleEndian, []uint32{4, 4, 3}) // NT_GNU_BUILD_ID-like
		note.WriteString("GNU\x00")
	}
	binary.Write(note, binary.LittleEndian, uint32(0x1000100))
	const phoff, phnum = 64, 2
	dataOff := uint64(phoff + phnum*56)
	// ELF header
	b.WriteString("\x7fELF\x02\x01\x01\x00")
	b.Write(make([]byte, 8))
	w(uint16(2))         // ET_EXEC
	w(uint16(62))        // EM_X86_64
	w(uint32(1))         // EV_CURRENT
	w(uint64(0x1000000)) // e_entry
	w(uint64(phoff))
	w(uint64(0))  // e_shoff
	w(uint32(0))  // e_flags
	w(uint16(64)) // e_ehsize
	w(uint16(56)) // e_phentsize
	w(uint16(phnum))
	w(uint16(64)) // e_shentsize
	w(uint16(0))
	w(uint16(0))
	// PT_LOAD
	w(uint32(1))
	w(uint32(5))
	w(dataOff)
	w(uint64(0xffffffff81000000))
	w(uint64(0x1000000))
	w(uint64(len(code)))
	w(uint64(0x10000)) // memsz: a bss
	w(uint64(0x200000))
	// PT_NOTE
	w(uint32(4))
	w(uint32(4))
	w(dataOff + uint64(len(code)))
	w(uint64(0))
	w(uint64(0))
	w(uint64(note.Len()))
	w(uint64(note.Len()))
	w(uint64(4))
	b.Write(code)
	b.Write(note.Bytes())
	return b.Bytes()
}

func TestELF(t *testing.T) {
	k, err := ParseKernel(fakeELF(false))
	if err != nil {
		t.Fatal(err)
	}
	if k.ELF.Entry != 0x1000000 || k.ELF.PVHEntry != 0 || len(k.ELF.Segments) != 1 {
		t.Fatalf("ParseELF = %+v", k.ELF)
	}
	p, err := MakePlan(k, Params{MemSize: 128 << 20, Cmdline: "console=ttyS0"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-elf", p.String())
	zp, err := ZeroPage(k, p)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "zeropage-elf", DumpZeroPage(zp))

	mem := memory.FromRegions(memory.Region{Mem: make([]byte, 128<<20)})
	bss, _ := mem.Slice(0x1000001, 1)
	bss[0] = 0xcc // the loader must zero the bss
	if err := Load(mem, k, p, "console=ttyS0", nil); err != nil {
		t.Fatal(err)
	}
	got, _ := mem.Slice(0x1000000, 2)
	if got[0] != 0xf4 || got[1] != 0 {
		t.Errorf("loaded segment starts % x, want f4 00", got)
	}
}

func TestParseKernelRejectsGarbage(t *testing.T) {
	if _, err := ParseKernel(make([]byte, 8192)); !errors.Is(err, ErrNotBzImage) {
		t.Errorf("ParseKernel(zeros) = %v, want ErrNotBzImage", err)
	}
	if _, err := ParseKernel([]byte("\x7fELF\x01\x01\x01")); !errors.Is(err, ErrNotELF) {
		t.Errorf("ParseKernel(truncated ELF) = %v, want ErrNotELF", err)
	}
}

func TestLoadWritesEverything(t *testing.T) {
	k, _ := ParseKernel(fakeBzImage(defaultHeader()))
	initrd := bytes.Repeat([]byte{0xab}, 4096)
	p, err := MakePlan(k, Params{MemSize: 128 << 20, Cmdline: "console=ttyS0", InitrdSize: uint64(len(initrd))})
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.FromRegions(memory.Region{Mem: make([]byte, 128<<20)})
	if err := Load(mem, k, p, "console=ttyS0", initrd); err != nil {
		t.Fatal(err)
	}
	read := func(addr, n uint64) []byte { b, _ := mem.Slice(addr, n); return b }
	if got := read(p.LoadAddr+0x100, 3); string(got) != "\x1f\x8b\x08" {
		t.Errorf("kernel not at %#x", p.LoadAddr)
	}
	if got := read(CmdlineAddr, 14); string(got) != "console=ttyS0\x00" {
		t.Errorf("cmdline = %q", got)
	}
	if got := read(p.InitrdAddr, 4096); !bytes.Equal(got, initrd) {
		t.Errorf("initrd not at %#x", p.InitrdAddr)
	}
	if got := le.Uint32(read(ZeroPageAddr+hdrHeader, 4)); got != hdrSMagic {
		t.Errorf("zero page header = %#x", got)
	}
	// Walk the page tables for a few addresses: each must map to itself.
	for _, va := range []uint64{0, p.Entry, ZeroPageAddr, 0x7fffffff, 0xfee00000, 4<<30 - 1} {
		pml4e := le.Uint64(read(PML4Addr+8*(va>>39&511), 8))
		pdpte := le.Uint64(read(pml4e&^0xfff+8*(va>>30&511), 8))
		pde := le.Uint64(read(pdpte&^0xfff+8*(va>>21&511), 8))
		if pml4e&pteP == 0 || pdpte&pteP == 0 || pde&(pteP|ptePS) != pteP|ptePS {
			t.Errorf("%#x: not mapped (%#x %#x %#x)", va, pml4e, pdpte, pde)
			continue
		}
		if pa := pde&^0x1fffff&^(1<<63) | va&0x1fffff; pa != va {
			t.Errorf("%#x maps to %#x", va, pa)
		}
	}
}

func TestLongModeSegments(t *testing.T) {
	golden(t, "gdt", dumpGDT())
}

func dumpGDT() string {
	var out strings.Builder
	for i, e := range gdt {
		s := segment(i)
		out.WriteString(strings.TrimSpace(strings.Join([]string{
			hex(uint64(s.Selector)), hex(e), "base=" + hex(s.Base), "limit=" + hex(uint64(s.Limit)),
			"type=" + hex(uint64(s.Type)), "s=" + itoa(uint64(s.S)), "p=" + itoa(uint64(s.Present)),
			"l=" + itoa(uint64(s.L)), "db=" + itoa(uint64(s.DB)), "g=" + itoa(uint64(s.G)),
		}, " ")) + "\n")
	}
	return out.String()
}

func hex(v uint64) string {
	return "0x" + strings.TrimLeft(strings.ToLower(binaryHex(v)), "0") + map[bool]string{true: "0"}[v == 0]
}

func binaryHex(v uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

// Debian's stock kernel, where the test machines cache it.
const debianKernel = "/var/cache/hull-testvm/k/boot/vmlinuz-6.1.0-56-amd64"

func TestDebianKernel(t *testing.T) {
	b, err := os.ReadFile(debianKernel)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not cached on this machine", debianKernel)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKernel(b)
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakePlan(k, Params{MemSize: 512 << 20, Cmdline: "console=ttyS0", InitrdSize: 8 << 20, RSDPAddr: ACPIAddr})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-debian-6.1", p.String())
}

// An initrd that does not fit below initrd_addr_max goes above 4 GiB
// when the kernel sets XLF_CAN_BE_LOADED_ABOVE_4G and the guest has RAM
// there; the zero page carries the high halves in ext_ramdisk_image and
// ext_ramdisk_size.
func TestPlanInitrdAbove4G(t *testing.T) {
	noHigh := defaultHeader()
	noHigh.xloadflags = XLF_KERNEL_64
	for _, tt := range []struct {
		name      string
		h         fakeHeader
		mem, size uint64
		wantAddr  uint64 // 0: an error containing want
		want      string
	}{
		{"fits low: stays below initrd_addr_max", defaultHeader(), 8 << 30, 16 << 20, 0x7ffff000 - 16<<20 + 0x1000, ""},
		{"2.5 GiB in 8 GiB: top of high RAM", defaultHeader(), 8 << 30, 5 << 29, 9<<30 - 5<<29, ""},
		{"5 GiB in 12 GiB: size above 32 bits", defaultHeader(), 12 << 30, 5 << 30, 13<<30 - 5<<30, ""},
		{"unaligned size: page-aligned start", defaultHeader(), 8 << 30, 5<<29 + 1, (9<<30 - 5<<29 - 1) &^ 0xfff, ""},
		{"kernel without XLF_CAN_BE_LOADED_ABOVE_4G", noHigh, 8 << 30, 5 << 29, 0, "lack XLF_CAN_BE_LOADED_ABOVE_4G"},
		{"too big for high RAM too", defaultHeader(), 5 << 30, 3 << 30, 0, "nor in the 2048 MiB of RAM above 4 GiB"},
		{"no RAM above 4 GiB", defaultHeader(), 2 << 30, 5 << 29, 0, "below initrd_addr_max"},
	} {
		k, err := ParseKernel(fakeBzImage(tt.h))
		if err != nil {
			t.Fatal(err)
		}
		p, err := MakePlan(k, Params{MemSize: tt.mem, InitrdSize: tt.size})
		if tt.wantAddr == 0 {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: MakePlan error = %v, want one containing %q", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if p.InitrdAddr != tt.wantAddr {
			t.Errorf("%s: initrd at %#x, want %#x", tt.name, p.InitrdAddr, tt.wantAddr)
		}
		zp, err := ZeroPage(k, p)
		if err != nil {
			t.Fatal(err)
		}
		addr := uint64(le.Uint32(zp[hdrRamdiskImage:])) | uint64(le.Uint32(zp[bpExtRamdiskImage:]))<<32
		size := uint64(le.Uint32(zp[hdrRamdiskSize:])) | uint64(le.Uint32(zp[bpExtRamdiskSize:]))<<32
		if addr != p.InitrdAddr || size != tt.size {
			t.Errorf("%s: zero page ramdisk %#x+%#x, want %#x+%#x", tt.name, addr, size, p.InitrdAddr, tt.size)
		}
	}
}

// An ELF vmlinux with the PVH note is entered there: in 32-bit protected
// mode, paging off, EBX at an hvm_start_info that gives the command line,
// the initrd as the first module, the RSDP and the memory map.
func TestPVH(t *testing.T) {
	k, err := ParseKernel(fakeELF(true))
	if err != nil {
		t.Fatal(err)
	}
	if k.ELF.PVHEntry != 0x1000100 {
		t.Fatalf("PVHEntry = %#x, want 0x1000100", k.ELF.PVHEntry)
	}
	initrd := bytes.Repeat([]byte{0xab}, 5000)
	p, err := MakePlan(k, Params{MemSize: 128 << 20, Cmdline: "console=ttyS0", InitrdSize: uint64(len(initrd)), RSDPAddr: ACPIAddr})
	if err != nil {
		t.Fatal(err)
	}
	if !p.PVH || p.Entry != 0x1000100 {
		t.Fatalf("plan: PVH %v entry %#x, want the PVH entry 0x1000100", p.PVH, p.Entry)
	}
	golden(t, "plan-pvh", p.String())
	si, err := StartInfo(p)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "startinfo-pvh", DumpStartInfo(si))

	mem := memory.FromRegions(memory.Region{Mem: make([]byte, 128<<20)})
	if err := Load(mem, k, p, "console=ttyS0", initrd); err != nil {
		t.Fatal(err)
	}
	read := func(addr, n uint64) []byte { b, _ := mem.Slice(addr, n); return b }
	if got := read(StartInfoAddr, uint64(len(si))); !bytes.Equal(got, si) {
		t.Error("hvm_start_info not written at StartInfoAddr")
	}
	if got := le.Uint32(read(ZeroPageAddr+hdrHeader, 4)); got != 0 {
		t.Errorf("a PVH boot wrote a zero page (header %#x)", got)
	}
	// Follow the pointers as the kernel does.
	cmd := le.Uint64(read(StartInfoAddr+hsiCmdlinePaddr, 8))
	mod := le.Uint64(read(le.Uint64(read(StartInfoAddr+hsiModlistPaddr, 8)), 8))
	if got := read(cmd, 14); string(got) != "console=ttyS0\x00" {
		t.Errorf("cmdline_paddr %#x holds %q", cmd, got)
	}
	if got := read(mod, uint64(len(initrd))); !bytes.Equal(got, initrd) {
		t.Errorf("modlist[0].paddr %#x does not hold the initrd", mod)
	}

	regs, sregs := p.Regs(), p.Sregs(kvm.Sregs{CR0: 0x60000010, CR4: CR4_PAE, EFER: EFER_LME})
	if regs.RIP != 0x1000100 || regs.RBX != StartInfoAddr || regs.RSI != 0 {
		t.Errorf("regs = RIP %#x RBX %#x RSI %#x; want the PVH entry, EBX at the start info", regs.RIP, regs.RBX, regs.RSI)
	}
	if sregs.CR0&(CR0_PE|CR0_PG) != CR0_PE || sregs.CR4 != 0 || sregs.EFER != 0 {
		t.Errorf("sregs: CR0 %#x CR4 %#x EFER %#x; want protected mode, paging off, CR4 and EFER clear", sregs.CR0, sregs.CR4, sregs.EFER)
	}
	if c := sregs.CS; c.L != 0 || c.DB != 1 || c.Base != 0 || c.Limit != 0xffffffff || c.Type != 0xb || c.Selector != 0x28 {
		t.Errorf("CS = %+v; want flat 32-bit code", c)
	}
	if d := sregs.SS; d.DB != 1 || d.Base != 0 || d.Limit != 0xffffffff || d.Type != 0x3 {
		t.Errorf("SS = %+v; want flat 32-bit data", d)
	}
	if tr := sregs.TR; tr.Limit != 0x67 || tr.Type != 0xb || tr.Base != 0 {
		t.Errorf("TR = %+v; want a busy 32-bit TSS, limit 0x67", tr)
	}
}

// The hvm_start_info layout, pinned against the C header's offsets: a
// start info read back field by field from known values.
func TestStartInfoLayout(t *testing.T) {
	for _, tt := range []struct {
		name      string
		off, size int
	}{
		{"magic", hsiMagic, 4}, {"version", hsiVersion, 4}, {"flags", hsiFlags, 4}, {"nr_modules", hsiNrModules, 4},
		{"modlist_paddr", hsiModlistPaddr, 8}, {"cmdline_paddr", hsiCmdlinePaddr, 8}, {"rsdp_paddr", hsiRSDPPaddr, 8},
		{"memmap_paddr", hsiMemmapPaddr, 8}, {"memmap_entries", hsiMemmapEntries, 4},
	} {
		if tt.off%tt.size != 0 || tt.off+tt.size > sizeofHVMStartInfo {
			t.Errorf("%s at %d (%d bytes) is misaligned or past the 56-byte struct", tt.name, tt.off, tt.size)
		}
	}
	if MemmapAddr-ModlistAddr < sizeofHVMModlistEntry || ModlistAddr-StartInfoAddr < sizeofHVMStartInfo {
		t.Error("the start info, module list and memory map overlap")
	}
	if MemmapAddr+maxPVHMemmap*sizeofHVMMemmapEntry > ZeroPageAddr {
		t.Error("the memory map runs into the zero page's spot")
	}
	// 200 e820 entries do not fit; the error says so.
	if _, err := StartInfo(&Plan{E820: make([]E820Entry, 200)}); err == nil || !strings.Contains(err.Error(), "memmap: 200 entries") {
		t.Errorf("StartInfo with 200 memmap entries: %v", err)
	}
}
