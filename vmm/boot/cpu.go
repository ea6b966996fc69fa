package boot

import "github.com/hullrt/hull/vmm/kvm"

// Page-table entry bits (Intel SDM vol. 3A, 4.5).
const (
	pteP  = 1 << 0 // present
	pteRW = 1 << 1 // writable
	ptePS = 1 << 7 // page size: a 2 MiB page in a page directory
)

// PageTables returns the boot page tables as (address, page) pairs: a PML4
// and one PDPT whose four entries point at page directories of 2 MiB pages
// identity-mapping the first 4 GiB. The 64-bit boot protocol asks for an
// identity map of the kernel, the zero page and the command line; 4 GiB
// covers them wherever they are below the MMIO hole, and the kernel
// replaces these tables early.
func PageTables() map[uint64][]byte {
	pages := map[uint64][]byte{}
	pml4 := make([]byte, 4096)
	le.PutUint64(pml4, PDPTAddr|pteP|pteRW)
	pages[PML4Addr] = pml4
	pdpt := make([]byte, 4096)
	for i := uint64(0); i < identityMapped>>30; i++ {
		pd := make([]byte, 4096)
		for j := uint64(0); j < 512; j++ {
			le.PutUint64(pd[8*j:], (i<<30+j<<21)|pteP|pteRW|ptePS)
		}
		pdAddr := PDAddr + i*4096
		pages[pdAddr] = pd
		le.PutUint64(pdpt[8*i:], pdAddr|pteP|pteRW)
	}
	pages[PDPTAddr] = pdpt
	return pages
}

// A GDT descriptor from its flags (the access byte in bits 0-7 and the
// granularity/size nibble in bits 12-15), base and 20-bit limit, laid out
// as the SDM's figure 3-8 scatters them.
func gdtEntry(flags uint16, base, limit uint32) uint64 {
	return uint64(base&0xff000000)<<32 |
		uint64(flags&0xf0ff)<<40 |
		uint64(limit&0x000f0000)<<32 |
		uint64(base&0x00ffffff)<<16 |
		uint64(limit&0x0000ffff)
}

// The boot GDT, with the selectors the boot protocol names: __BOOT_CS is
// 0x10 and __BOOT_DS 0x18; 0x28 is the 32-bit code segment of a PVH entry. The TSS exists only because VMX refuses to
// enter a guest whose task register is unusable.
var gdt = []uint64{
	0,
	0,
	gdtEntry(0xa09b, 0, 0xfffff), // 0x10: code, 64-bit (L), present, execute/read, accessed
	gdtEntry(0xc093, 0, 0xfffff), // 0x18: data, 32-bit (D/B), present, read/write, accessed
	gdtEntry(0x808b, 0, 0xfffff), // 0x20: TSS, busy
	gdtEntry(0xc09b, 0, 0xfffff), // 0x28: code, 32-bit (D/B), present, execute/read, accessed: the PVH entry's
}

// GDT returns the GDT's bytes, to place at GDTAddr.
func GDT() []byte {
	b := make([]byte, 8*len(gdt))
	for i, e := range gdt {
		le.PutUint64(b[8*i:], e)
	}
	return b
}

// segment decodes GDT entry index into the hidden part KVM wants.
func segment(index int) kvm.Segment {
	e := gdt[index]
	s := kvm.Segment{
		Base:     (e>>16)&0xffffff | (e>>32)&0xff000000,
		Limit:    uint32(e&0xffff | (e>>32)&0xf0000),
		Selector: uint16(index * 8),
		Type:     uint8(e>>40) & 0xf,
		S:        uint8(e>>44) & 1,
		DPL:      uint8(e>>45) & 3,
		Present:  uint8(e>>47) & 1,
		AVL:      uint8(e>>52) & 1,
		L:        uint8(e>>53) & 1,
		DB:       uint8(e>>54) & 1,
		G:        uint8(e>>55) & 1,
	}
	if s.G == 1 {
		s.Limit = s.Limit<<12 | 0xfff
	}
	return s
}

// Control-register and EFER bits.
const (
	CR0_PE    = 1 << 0
	CR0_ET    = 1 << 4
	CR0_PG    = 1 << 31
	CR4_PAE   = 1 << 5
	EFER_LME  = 1 << 8
	EFER_LMA  = 1 << 10
	EFER_SCE  = 1 << 0
	EFER_NXE  = 1 << 11
	rflagsFix = 1 << 1 // bit 1 of RFLAGS is always set
)

// LongModeSregs sets up s (as KVM_GET_SREGS returned it) for the 64-bit
// entry: paging on through PML4Addr, long mode active, flat segments from
// the boot GDT, and an empty IDT.
func LongModeSregs(s kvm.Sregs) kvm.Sregs {
	s.GDT = kvm.DTable{Base: GDTAddr, Limit: uint16(8*len(gdt) - 1)}
	s.IDT = kvm.DTable{Base: IDTAddr, Limit: 7}
	code, data, tss := segment(2), segment(3), segment(4)
	s.CS = code
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.TR = tss
	s.CR3 = PML4Addr
	s.CR4 |= CR4_PAE
	s.CR0 |= CR0_PE | CR0_PG | CR0_ET
	s.EFER |= EFER_LME | EFER_LMA
	return s
}

// Regs are the boot vCPU's general registers at the entry: RIP at the
// entry, interrupts off, and for the 64-bit entry RSI at the zero page and
// a small stack; for PVH, EBX at the hvm_start_info.
func (p *Plan) Regs() kvm.Regs {
	if p.PVH {
		return kvm.Regs{RIP: p.Entry, RBX: StartInfoAddr, RFLAGS: rflagsFix}
	}
	return kvm.Regs{
		RIP:    p.Entry,
		RSI:    ZeroPageAddr,
		RSP:    StackTop,
		RBP:    StackTop,
		RFLAGS: rflagsFix,
	}
}
