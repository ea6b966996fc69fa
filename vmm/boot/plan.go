package boot

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hullrt/hull/vmm/memory"
)

// The guest physical layout of everything hull places before the kernel
// runs. Low memory below 640 KiB holds the boot structures; the BIOS area
// at 0xe0000 holds the ACPI tables (where a kernel without a zero-page
// pointer scans for the RSDP); the kernel goes at its preferred address.
const (
	GDTAddr      = 0x500   // the boot GDT: null, null, code64 (0x10), data (0x18), TSS (0x20)
	IDTAddr      = 0x520   // an empty IDT: any exception before Linux loads its own is a triple fault
	ZeroPageAddr = 0x7000  // struct boot_params, passed in RSI
	StackTop     = 0x8ff0  // RSP at entry
	PML4Addr     = 0x9000  // page-map level 4
	PDPTAddr     = 0xa000  // one page-directory-pointer table
	PDAddr       = 0xb000  // four page directories of 2 MiB pages: 0xb000-0xefff, identity-mapping 4 GiB
	CmdlineAddr  = 0x20000 // the NUL-terminated kernel command line
	EBDAStart    = 0x9fc00 // extended BIOS data area to 1 MiB: reserved in e820
	ACPIAddr     = 0xe0000 // RSDP and the ACPI tables after it
	HighMemStart = 0x100000
	LowMemEnd    = memory.MMIOHoleStart

	identityMapped = 4 << 30
)

// Kernel is a kernel image hull can boot: a bzImage or an ELF vmlinux.
type Kernel struct {
	BzImage *BzImage
	ELF     *ELFKernel
}

// ParseKernel recognises a bzImage or an ELF vmlinux.
func ParseKernel(b []byte) (*Kernel, error) {
	if len(b) >= 4 && string(b[:4]) == "\x7fELF" {
		k, err := ParseELF(b)
		if err != nil {
			return nil, err
		}
		return &Kernel{ELF: k}, nil
	}
	k, err := ParseBzImage(b)
	if err != nil {
		return nil, err
	}
	return &Kernel{BzImage: k}, nil
}

// E820Entry is one e820 memory range (struct boot_e820_entry).
type E820Entry struct {
	Addr, Size uint64
	Type       E820Type
}

func (e E820Entry) String() string {
	return fmt.Sprintf("[mem 0x%016x-0x%016x] %s", e.Addr, e.Addr+e.Size-1, e.Type)
}

// Params is what a boot needs besides the kernel.
type Params struct {
	MemSize    uint64 // guest RAM in bytes, laid out by memory.Layout
	Cmdline    string
	InitrdSize uint64 // 0 without an initrd
	RSDPAddr   uint64 // the ACPI RSDP, or 0
}

// Plan is where everything goes: a pure function of the kernel and Params,
// printed by String for golden tests and --explain.
type Plan struct {
	Format    string // "bzImage 2.15 (zstd)" or "ELF"
	LoadAddr  uint64 // start of the protected-mode kernel
	KernelEnd uint64 // first byte after the kernel's footprint (init_size for a bzImage)
	Entry     uint64 // RIP at the first KVM_RUN
	// PVH: enter at the ELF's XEN_ELFNOTE_PHYS32_ENTRY in 32-bit mode
	// with EBX at an hvm_start_info (StartInfo), not at the 64-bit entry
	// with a zero page.
	PVH         bool
	CmdlineAddr uint64
	CmdlineSize uint64 // bytes, with the NUL
	InitrdAddr  uint64
	InitrdSize  uint64
	RSDPAddr    uint64
	E820        []E820Entry
}

// MakePlan places the kernel, command line and initrd for a guest with
// p.MemSize bytes of RAM, honouring the bzImage's setup header: the kernel
// goes at pref_address (or 1 MiB rounded up to kernel_alignment when it is
// relocatable and prefers lower), needs init_size bytes there, and the
// initrd goes as high as initrd_addr_max and RAM below 4 GiB allow — or,
// when it does not fit there and the kernel sets
// XLF_CAN_BE_LOADED_ABOVE_4G, at the top of RAM above 4 GiB.
func MakePlan(k *Kernel, p Params) (*Plan, error) {
	lowEnd := min(p.MemSize, LowMemEnd)
	if p.MemSize < 16<<20 {
		return nil, fmt.Errorf("memory: %d MiB is too little to boot Linux", p.MemSize>>20)
	}
	pl := &Plan{
		CmdlineAddr: CmdlineAddr,
		CmdlineSize: uint64(len(p.Cmdline)) + 1,
		RSDPAddr:    p.RSDPAddr,
		InitrdSize:  p.InitrdSize,
	}
	if strings.IndexByte(p.Cmdline, 0) >= 0 {
		return nil, errors.New("cmdline: contains a NUL byte")
	}
	initrdMax := uint64(lowEnd - 1)
	maxCmdline := uint64(EBDAStart - CmdlineAddr - 1)
	switch {
	case k.BzImage != nil:
		h := k.BzImage.Header
		pl.Format = "bzImage " + h.VersionString()
		if c := k.BzImage.Compression; c != "" {
			pl.Format += " (" + c + ")"
		}
		align := uint64(h.KernelAlignment)
		switch {
		case h.PrefAddress >= HighMemStart:
			pl.LoadAddr = h.PrefAddress
		case h.RelocatableKernel:
			pl.LoadAddr = (HighMemStart + align - 1) &^ (align - 1)
		default:
			pl.LoadAddr = HighMemStart
		}
		if h.RelocatableKernel && pl.LoadAddr%align != 0 {
			return nil, fmt.Errorf("pref_address: %#x is not aligned to kernel_alignment %#x", h.PrefAddress, align)
		}
		pl.KernelEnd = pl.LoadAddr + max(uint64(h.InitSize), uint64(len(k.BzImage.Kernel)))
		pl.Entry = pl.LoadAddr + 0x200 // startup_64 in the protected-mode part
		initrdMax = min(initrdMax, uint64(h.InitrdAddrMax))
		maxCmdline = min(maxCmdline, uint64(h.CmdlineSize))
	case k.ELF != nil:
		pl.Format = "ELF"
		pl.LoadAddr = ^uint64(0)
		for _, s := range k.ELF.Segments {
			pl.LoadAddr = min(pl.LoadAddr, s.Addr)
			pl.KernelEnd = max(pl.KernelEnd, s.Addr+s.MemSize)
		}
		pl.Entry = k.ELF.Entry
		if k.ELF.PVHEntry != 0 {
			// As QEMU, Firecracker and Cloud Hypervisor do: a kernel
			// that offers PVH boots through it.
			pl.Format, pl.Entry, pl.PVH = "ELF (PVH)", uint64(k.ELF.PVHEntry), true
		}
		if pl.Entry < pl.LoadAddr || pl.Entry >= pl.KernelEnd {
			return nil, fmt.Errorf("ELF e_entry %#x lies outside the loaded segments [%#x, %#x)", pl.Entry, pl.LoadAddr, pl.KernelEnd)
		}
		if pl.LoadAddr < HighMemStart {
			return nil, fmt.Errorf("ELF segment at %#x overlaps the boot structures below 1 MiB", pl.LoadAddr)
		}
	default:
		return nil, errors.New("no kernel")
	}
	if uint64(len(p.Cmdline)) > maxCmdline {
		return nil, fmt.Errorf("cmdline: %d bytes, the kernel takes at most %d", len(p.Cmdline), maxCmdline)
	}
	if pl.KernelEnd > lowEnd {
		return nil, fmt.Errorf("memory: the kernel needs [%#x, %#x) but RAM below the MMIO hole ends at %#x", pl.LoadAddr, pl.KernelEnd, lowEnd)
	}
	if p.InitrdSize > 0 {
		addr, err := initrdBelow(initrdMax, p.InitrdSize, pl.KernelEnd)
		if err != nil {
			// A kernel with XLF_CAN_BE_LOADED_ABOVE_4G reads the high
			// halves of the initrd's address and size from
			// ext_ramdisk_image and ext_ramdisk_size: when the initrd
			// does not fit low, it goes at the top of RAM above 4 GiB.
			above4G := k.BzImage != nil && k.BzImage.Header.Xloadflags&XLF_CAN_BE_LOADED_ABOVE_4G != 0
			highSize := p.MemSize - lowEnd
			switch {
			case !above4G && highSize > 0:
				err = fmt.Errorf("%w (RAM above 4 GiB would hold it, but the kernel's xloadflags lack XLF_CAN_BE_LOADED_ABOVE_4G)", err)
			case above4G && highSize > 0 && p.InitrdSize > highSize:
				err = fmt.Errorf("%w, nor in the %d MiB of RAM above 4 GiB", err, highSize>>20)
			case above4G && highSize > 0:
				addr, err = (memory.HighStart+highSize-p.InitrdSize)&^0xfff, nil
			}
			if err != nil {
				return nil, err
			}
		}
		pl.InitrdAddr = addr
	}
	pl.E820 = e820(p.MemSize)
	return pl, nil
}

// initrdBelow places an initrd of size bytes as high as possible below
// initrdMax (the last byte it may use), page-aligned, after the kernel.
func initrdBelow(initrdMax, size, kernelEnd uint64) (uint64, error) {
	if size > initrdMax {
		return 0, fmt.Errorf("initrd: %d bytes do not fit below initrd_addr_max %#x", size, initrdMax)
	}
	addr := (initrdMax + 1 - size) &^ 0xfff
	if addr < kernelEnd {
		return 0, fmt.Errorf("initrd: %d MiB do not fit between the kernel's end %#x and %#x; give the guest more memory", size>>20, kernelEnd, initrdMax+1)
	}
	return addr, nil
}

// e820 is the guest's memory map: RAM below the EBDA, the BIOS area
// reserved (it holds the ACPI tables), RAM from 1 MiB to the MMIO hole and
// from 4 GiB on.
func e820(memSize uint64) []E820Entry {
	m := []E820Entry{
		{0, EBDAStart, E820_TYPE_RAM},
		{EBDAStart, HighMemStart - EBDAStart, E820_TYPE_RESERVED},
	}
	for _, r := range memory.Layout(memSize) {
		start := max(r.GPA, HighMemStart)
		if end := r.GPA + r.Size; end > start {
			m = append(m, E820Entry{start, end - start, E820_TYPE_RAM})
		}
	}
	return m
}

// String prints the plan, one fact a line.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel    %s\n", p.Format)
	fmt.Fprintf(&b, "load      %#x-%#x\n", p.LoadAddr, p.KernelEnd-1)
	if p.PVH {
		fmt.Fprintf(&b, "entry     %#x (PVH: 32-bit protected mode, paging off)\n", p.Entry)
		fmt.Fprintf(&b, "start info %#x (hvm_start_info in EBX), modules %#x, memmap %#x\n", StartInfoAddr, ModlistAddr, MemmapAddr)
	} else {
		fmt.Fprintf(&b, "entry     %#x (64-bit)\n", p.Entry)
		fmt.Fprintf(&b, "zero page %#x\n", ZeroPageAddr)
	}
	fmt.Fprintf(&b, "cmdline   %#x (%d bytes)\n", p.CmdlineAddr, p.CmdlineSize)
	if p.InitrdSize > 0 {
		fmt.Fprintf(&b, "initrd    %#x-%#x\n", p.InitrdAddr, p.InitrdAddr+p.InitrdSize-1)
	}
	if p.RSDPAddr != 0 {
		fmt.Fprintf(&b, "rsdp      %#x\n", p.RSDPAddr)
	}
	fmt.Fprintf(&b, "page tables %#x (PML4), %#x (PDPT), %#x-%#x (PD): identity map of 4 GiB in 2 MiB pages\n", PML4Addr, PDPTAddr, PDAddr, PDAddr+4*0x1000-1)
	fmt.Fprintf(&b, "gdt       %#x\n", GDTAddr)
	for _, e := range p.E820 {
		fmt.Fprintf(&b, "e820      %s\n", e)
	}
	return b.String()
}
