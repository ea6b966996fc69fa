package boot

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
)

// ELFKernel is an uncompressed vmlinux: PT_LOAD segments placed at their
// physical addresses, entered at the 64-bit entry point e_entry (x86-64
// links vmlinux with ENTRY(phys_startup_64), a physical address).
type ELFKernel struct {
	Segments []Segment
	Entry    uint64 // 64-bit entry, physical
	// PVHEntry is the 32-bit PVH entry from the XEN_ELFNOTE_PHYS32_ENTRY
	// note, or 0. When there is one, MakePlan enters there (see pvh.go).
	PVHEntry uint32
}

// Segment is one PT_LOAD segment.
type Segment struct {
	Addr    uint64 // p_paddr
	Data    []byte // p_filesz bytes
	MemSize uint64 // p_memsz; the rest is zeroed
}

// XEN_ELFNOTE_PHYS32_ENTRY is the Xen ELF note (include/xen/interface/elfnote.h)
// carrying the PVH 32-bit entry point.
const XEN_ELFNOTE_PHYS32_ENTRY = 18

// ErrNotELF is wrapped by ParseELF for files that are not x86-64 ELF.
var ErrNotELF = errors.New("not an x86-64 ELF kernel")

// ParseELF parses an uncompressed x86-64 vmlinux.
func ParseELF(b []byte) (*ELFKernel, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotELF, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: %v %v", ErrNotELF, f.Class, f.Machine)
	}
	k := &ELFKernel{Entry: f.Entry}
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if p.Filesz > p.Memsz || p.Off+p.Filesz > uint64(len(b)) || p.Off+p.Filesz < p.Off {
				return nil, fmt.Errorf("ELF program header %d: file range [%#x, +%#x) memsz %#x is inconsistent", i, p.Off, p.Filesz, p.Memsz)
			}
			if p.Paddr+p.Memsz < p.Paddr {
				return nil, fmt.Errorf("ELF program header %d: physical range wraps", i)
			}
			k.Segments = append(k.Segments, Segment{Addr: p.Paddr, Data: b[p.Off : p.Off+p.Filesz], MemSize: p.Memsz})
		case elf.PT_NOTE:
			if p.Off+p.Filesz > uint64(len(b)) {
				return nil, fmt.Errorf("ELF program header %d: note past the end of the file", i)
			}
			if e, ok := pvhEntry(b[p.Off : p.Off+p.Filesz]); ok {
				k.PVHEntry = e
			}
		}
	}
	if len(k.Segments) == 0 {
		return nil, fmt.Errorf("%w: no PT_LOAD segment", ErrNotELF)
	}
	return k, nil
}

// pvhEntry walks ELF notes (Elf64_Nhdr: namesz, descsz, type, then the
// name and descriptor, each padded to 4 bytes) for Xen's PHYS32_ENTRY.
func pvhEntry(notes []byte) (uint32, bool) {
	for len(notes) >= 12 {
		namesz, descsz, typ := le.Uint32(notes), le.Uint32(notes[4:]), le.Uint32(notes[8:])
		nameEnd := 12 + align4(uint64(namesz))
		descEnd := nameEnd + align4(uint64(descsz))
		if descEnd > uint64(len(notes)) {
			return 0, false
		}
		name := notes[12 : 12+uint64(namesz)]
		if typ == XEN_ELFNOTE_PHYS32_ENTRY && string(bytes.TrimRight(name, "\x00")) == "Xen" && descsz >= 4 {
			return le.Uint32(notes[nameEnd:]), true
		}
		notes = notes[descEnd:]
	}
	return 0, false
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
