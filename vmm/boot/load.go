package boot

import (
	"fmt"

	"github.com/hullrt/hull/vmm/memory"
)

// Load writes the kernel, initrd, command line, zero page (or, for PVH,
// hvm_start_info), page tables and GDT into guest memory as the plan says.
func Load(mem *memory.Guest, k *Kernel, p *Plan, cmdline string, initrd []byte) error {
	if uint64(len(initrd)) != p.InitrdSize {
		return fmt.Errorf("initrd: %d bytes, the plan has %d", len(initrd), p.InitrdSize)
	}
	write := func(what string, addr uint64, b []byte) error {
		if err := mem.Write(addr, b); err != nil {
			return fmt.Errorf("loading %s: %w", what, err)
		}
		return nil
	}
	switch {
	case k.BzImage != nil:
		if err := write("kernel", p.LoadAddr, k.BzImage.Kernel); err != nil {
			return err
		}
	case k.ELF != nil:
		for _, s := range k.ELF.Segments {
			if err := write("ELF segment", s.Addr, s.Data); err != nil {
				return err
			}
			bss, err := mem.Slice(s.Addr+uint64(len(s.Data)), s.MemSize-uint64(len(s.Data)))
			if err != nil {
				return fmt.Errorf("loading ELF segment: %w", err)
			}
			clear(bss)
		}
	}
	if len(initrd) > 0 {
		if err := write("initrd", p.InitrdAddr, initrd); err != nil {
			return err
		}
	}
	if err := write("cmdline", p.CmdlineAddr, append([]byte(cmdline), 0)); err != nil {
		return err
	}
	if p.PVH {
		si, err := StartInfo(p)
		if err != nil {
			return err
		}
		if err := write("hvm_start_info", StartInfoAddr, si); err != nil {
			return err
		}
	} else {
		zp, err := ZeroPage(k, p)
		if err != nil {
			return err
		}
		if err := write("zero page", ZeroPageAddr, zp); err != nil {
			return err
		}
	}
	for addr, page := range PageTables() {
		if err := write("page tables", addr, page); err != nil {
			return err
		}
	}
	if err := write("GDT", GDTAddr, GDT()); err != nil {
		return err
	}
	return write("IDT", IDTAddr, make([]byte, 8))
}
