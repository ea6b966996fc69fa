package boot

import "fmt"

// ZeroPage builds struct boot_params for the plan: the kernel's own setup
// header (a bzImage's, or a minimal one for an ELF vmlinux) with the
// loader's fields filled in, the e820 map and the RSDP address.
func ZeroPage(k *Kernel, p *Plan) ([]byte, error) {
	zp := make([]byte, sizeofBootParams)
	if k.BzImage != nil {
		copy(zp[bpHdr:], k.BzImage.Setup)
	} else {
		// An ELF vmlinux has no setup header; write the fields the kernel
		// reads. Version 2.15 makes it honour acpi_rsdp_addr.
		le.PutUint16(zp[hdrBootFlag:], bootFlagMagic)
		le.PutUint32(zp[hdrHeader:], hdrSMagic)
		le.PutUint16(zp[hdrVersion:], 0x020f)
		le.PutUint32(zp[hdrKernelAlignment:], 0x1000000)
		zp[hdrLoadflags] = LOADED_HIGH
		le.PutUint32(zp[hdrCmdlineSize:], uint32(p.CmdlineSize-1))
	}
	zp[hdrTypeOfLoader] = loaderTypeUndefined
	le.PutUint16(zp[hdrVidMode:], 0xffff) // "normal" text mode; there is no VGA
	le.PutUint32(zp[hdrCode32Start:], uint32(p.LoadAddr))
	le.PutUint32(zp[hdrCmdLinePtr:], uint32(p.CmdlineAddr))
	le.PutUint32(zp[bpExtCmdLinePtr:], uint32(p.CmdlineAddr>>32))
	le.PutUint32(zp[hdrRamdiskImage:], uint32(p.InitrdAddr))
	le.PutUint32(zp[hdrRamdiskSize:], uint32(p.InitrdSize))
	le.PutUint32(zp[bpExtRamdiskImage:], uint32(p.InitrdAddr>>32))
	le.PutUint32(zp[bpExtRamdiskSize:], uint32(p.InitrdSize>>32))
	le.PutUint64(zp[bpACPIRSDPAddr:], p.RSDPAddr)
	if len(p.E820) > E820_MAX_ENTRIES_ZEROPAGE {
		return nil, fmt.Errorf("e820: %d entries, the zero page holds %d", len(p.E820), E820_MAX_ENTRIES_ZEROPAGE)
	}
	zp[bpE820Entries] = uint8(len(p.E820))
	for i, e := range p.E820 {
		off := bpE820Table + i*sizeofBootE820
		le.PutUint64(zp[off:], e.Addr)
		le.PutUint64(zp[off+8:], e.Size)
		le.PutUint32(zp[off+16:], uint32(e.Type))
	}
	return zp, nil
}

// DumpZeroPage lists the zero-page fields a loader sets, for golden tests
// and --explain.
func DumpZeroPage(zp []byte) string {
	var out string
	f := func(name string, v any) { out += fmt.Sprintf("%-18s %#x\n", name, v) }
	f("boot_flag", le.Uint16(zp[hdrBootFlag:]))
	f("header", le.Uint32(zp[hdrHeader:]))
	f("version", le.Uint16(zp[hdrVersion:]))
	f("type_of_loader", zp[hdrTypeOfLoader])
	f("loadflags", zp[hdrLoadflags])
	f("vid_mode", le.Uint16(zp[hdrVidMode:]))
	f("code32_start", le.Uint32(zp[hdrCode32Start:]))
	f("cmd_line_ptr", le.Uint32(zp[hdrCmdLinePtr:]))
	f("cmdline_size", le.Uint32(zp[hdrCmdlineSize:]))
	f("ramdisk_image", le.Uint32(zp[hdrRamdiskImage:]))
	f("ramdisk_size", le.Uint32(zp[hdrRamdiskSize:]))
	f("ext_ramdisk_image", le.Uint32(zp[bpExtRamdiskImage:]))
	f("ext_ramdisk_size", le.Uint32(zp[bpExtRamdiskSize:]))
	f("ext_cmd_line_ptr", le.Uint32(zp[bpExtCmdLinePtr:]))
	f("kernel_alignment", le.Uint32(zp[hdrKernelAlignment:]))
	f("acpi_rsdp_addr", le.Uint64(zp[bpACPIRSDPAddr:]))
	n := int(zp[bpE820Entries])
	f("e820_entries", n)
	for i := 0; i < n; i++ {
		off := bpE820Table + i*sizeofBootE820
		out += fmt.Sprintf("e820_table[%d]      %s\n", i, E820Entry{le.Uint64(zp[off:]), le.Uint64(zp[off+8:]), E820Type(le.Uint32(zp[off+16:]))})
	}
	return out
}
