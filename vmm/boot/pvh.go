package boot

import (
	"fmt"

	"github.com/hullrt/hull/vmm/kvm"
)

// PVH is Xen's direct boot of an uncompressed kernel, which KVM VMMs
// (QEMU, Firecracker, Cloud Hypervisor) use too: a vmlinux built with
// CONFIG_PVH carries its 32-bit entry point in an ELF note
// (XEN_ELFNOTE_PHYS32_ENTRY), and the loader enters there in 32-bit
// protected mode with paging off and EBX pointing at a struct
// hvm_start_info, which gives the command line, the modules (the first
// one is the initrd), the RSDP and, from version 1, the memory map. No
// zero page and no page tables: the kernel builds its own.
//
// The ABI (xen/include/public/arch-x86/hvm/start_info.h), little-endian,
// every field naturally aligned:
//
//	struct hvm_start_info {          // 56 bytes
//	    uint32_t magic;              //  0  XEN_HVM_START_MAGIC_VALUE
//	    uint32_t version;            //  4  1: memmap_* are valid
//	    uint32_t flags;              //  8  SIF_*; 0
//	    uint32_t nr_modules;         // 12
//	    uint64_t modlist_paddr;      // 16  struct hvm_modlist_entry[nr_modules]
//	    uint64_t cmdline_paddr;      // 24  NUL-terminated
//	    uint64_t rsdp_paddr;         // 32
//	    uint64_t memmap_paddr;       // 40  struct hvm_memmap_table_entry[memmap_entries]
//	    uint32_t memmap_entries;     // 48
//	    uint32_t reserved;           // 52
//	};
//	struct hvm_modlist_entry {       // 32 bytes
//	    uint64_t paddr, size, cmdline_paddr, reserved;
//	};
//	struct hvm_memmap_table_entry {  // 24 bytes
//	    uint64_t addr, size;
//	    uint32_t type;               // XEN_HVM_MEMMAP_TYPE_*, the e820 types
//	    uint32_t reserved;
//	};
const (
	XEN_HVM_START_MAGIC_VALUE = 0x336ec578

	hsiMagic              = 0
	hsiVersion            = 4
	hsiFlags              = 8
	hsiNrModules          = 12
	hsiModlistPaddr       = 16
	hsiCmdlinePaddr       = 24
	hsiRSDPPaddr          = 32
	hsiMemmapPaddr        = 40
	hsiMemmapEntries      = 48
	sizeofHVMStartInfo    = 56
	sizeofHVMModlistEntry = 32
	sizeofHVMMemmapEntry  = 24
)

// Where the PVH structures go, in low memory below the zero page's spot
// (which a PVH boot leaves unused).
const (
	StartInfoAddr = 0x6000 // struct hvm_start_info, passed in EBX
	ModlistAddr   = 0x6040 // one hvm_modlist_entry: the initrd
	MemmapAddr    = 0x6080 // the memory map, up to maxPVHMemmap entries
	maxPVHMemmap  = (ZeroPageAddr - MemmapAddr) / sizeofHVMMemmapEntry
)

// StartInfo builds the hvm_start_info page for a PVH plan: the structure
// at StartInfoAddr, the module list at ModlistAddr and the memory map at
// MemmapAddr, as one block to write at StartInfoAddr.
func StartInfo(p *Plan) ([]byte, error) {
	if len(p.E820) > maxPVHMemmap {
		return nil, fmt.Errorf("memmap: %d entries, room for %d", len(p.E820), maxPVHMemmap)
	}
	b := make([]byte, MemmapAddr-StartInfoAddr+len(p.E820)*sizeofHVMMemmapEntry)
	le.PutUint32(b[hsiMagic:], XEN_HVM_START_MAGIC_VALUE)
	le.PutUint32(b[hsiVersion:], 1)
	le.PutUint64(b[hsiCmdlinePaddr:], p.CmdlineAddr)
	le.PutUint64(b[hsiRSDPPaddr:], p.RSDPAddr)
	if p.InitrdSize > 0 {
		le.PutUint32(b[hsiNrModules:], 1)
		le.PutUint64(b[hsiModlistPaddr:], ModlistAddr)
		m := b[ModlistAddr-StartInfoAddr:]
		le.PutUint64(m[0:], p.InitrdAddr)
		le.PutUint64(m[8:], p.InitrdSize)
	}
	le.PutUint64(b[hsiMemmapPaddr:], MemmapAddr)
	le.PutUint32(b[hsiMemmapEntries:], uint32(len(p.E820)))
	for i, e := range p.E820 {
		off := MemmapAddr - StartInfoAddr + i*sizeofHVMMemmapEntry
		le.PutUint64(b[off:], e.Addr)
		le.PutUint64(b[off+8:], e.Size)
		le.PutUint32(b[off+16:], uint32(e.Type))
	}
	return b, nil
}

// DumpStartInfo lists an hvm_start_info block as StartInfo built it, for
// golden tests and --explain.
func DumpStartInfo(b []byte) string {
	var out string
	f := func(name string, v any) { out += fmt.Sprintf("%-16s %#x\n", name, v) }
	f("magic", le.Uint32(b[hsiMagic:]))
	f("version", le.Uint32(b[hsiVersion:]))
	f("flags", le.Uint32(b[hsiFlags:]))
	f("nr_modules", le.Uint32(b[hsiNrModules:]))
	f("modlist_paddr", le.Uint64(b[hsiModlistPaddr:]))
	f("cmdline_paddr", le.Uint64(b[hsiCmdlinePaddr:]))
	f("rsdp_paddr", le.Uint64(b[hsiRSDPPaddr:]))
	f("memmap_paddr", le.Uint64(b[hsiMemmapPaddr:]))
	n := int(le.Uint32(b[hsiMemmapEntries:]))
	f("memmap_entries", n)
	for i := 0; i < int(le.Uint32(b[hsiNrModules:])); i++ {
		m := b[le.Uint64(b[hsiModlistPaddr:])-StartInfoAddr+uint64(i*sizeofHVMModlistEntry):]
		out += fmt.Sprintf("modlist[%d]       paddr %#x size %#x cmdline %#x\n", i, le.Uint64(m), le.Uint64(m[8:]), le.Uint64(m[16:]))
	}
	for i := 0; i < n; i++ {
		m := b[le.Uint64(b[hsiMemmapPaddr:])-StartInfoAddr+uint64(i*sizeofHVMMemmapEntry):]
		out += fmt.Sprintf("memmap[%d]        %s\n", i, E820Entry{le.Uint64(m), le.Uint64(m[8:]), E820Type(le.Uint32(m[16:]))})
	}
	return out
}

// ProtectedModeSregs sets up s (as KVM_GET_SREGS returned it) for the
// PVH entry: 32-bit protected mode with paging off (CR0.PE only, CR4 and
// EFER clear), flat 4 GiB code (0x28) and data (0x18) segments from the
// boot GDT, and a 32-bit TSS of limit 0x67, as the PVH ABI states.
func ProtectedModeSregs(s kvm.Sregs) kvm.Sregs {
	s.GDT = kvm.DTable{Base: GDTAddr, Limit: uint16(8*len(gdt) - 1)}
	s.IDT = kvm.DTable{Base: IDTAddr, Limit: 7}
	code, data, tss := segment(5), segment(3), segment(4)
	tss.Limit = 0x67
	s.CS = code
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.TR = tss
	s.CR0 = s.CR0&^CR0_PG | CR0_PE | CR0_ET
	s.CR3 = 0
	s.CR4 = 0
	s.EFER = 0
	return s
}

// Sregs sets up s for the plan's entry: ProtectedModeSregs for PVH,
// LongModeSregs otherwise.
func (p *Plan) Sregs(s kvm.Sregs) kvm.Sregs {
	if p.PVH {
		return ProtectedModeSregs(s)
	}
	return LongModeSregs(s)
}
