package boot

// The x86 Linux boot protocol ABI (Documentation/arch/x86/boot.rst,
// arch/x86/include/uapi/asm/bootparam.h, arch/x86/include/asm/e820/types.h),
// in the kernel's spelling. Offsets are into struct boot_params, the "zero
// page"; the setup header sits at the same offsets in a bzImage file.

// struct boot_params field offsets.
const (
	bpACPIRSDPAddr            = 0x070 // __u64 acpi_rsdp_addr (protocol 2.14+)
	bpExtRamdiskImage         = 0x0c0 // __u32 ext_ramdisk_image
	bpExtRamdiskSize          = 0x0c4 // __u32 ext_ramdisk_size
	bpExtCmdLinePtr           = 0x0c8 // __u32 ext_cmd_line_ptr
	bpE820Entries             = 0x1e8 // __u8  e820_entries
	bpHdr                     = 0x1f1 // struct setup_header hdr
	bpE820Table               = 0x2d0 // struct boot_e820_entry e820_table[E820_MAX_ENTRIES_ZEROPAGE]
	sizeofBootParams          = 0x1000
	sizeofBootE820            = 20
	E820_MAX_ENTRIES_ZEROPAGE = 128
)

// struct setup_header field offsets (from the start of boot_params or of
// the bzImage).
const (
	hdrSetupSects        = 0x1f1 // __u8
	hdrVidMode           = 0x1fa // __u16
	hdrBootFlag          = 0x1fe // __u16, 0xAA55
	hdrJump              = 0x200 // __u16, a short jmp whose offset ends the header
	hdrHeader            = 0x202 // __u32, "HdrS"
	hdrVersion           = 0x206 // __u16
	hdrTypeOfLoader      = 0x210 // __u8
	hdrLoadflags         = 0x211 // __u8
	hdrCode32Start       = 0x214 // __u32
	hdrRamdiskImage      = 0x218 // __u32
	hdrRamdiskSize       = 0x21c // __u32
	hdrHeapEndPtr        = 0x224 // __u16
	hdrCmdLinePtr        = 0x228 // __u32
	hdrInitrdAddrMax     = 0x22c // __u32
	hdrKernelAlignment   = 0x230 // __u32
	hdrRelocatableKernel = 0x234 // __u8
	hdrMinAlignment      = 0x235 // __u8
	hdrXloadflags        = 0x236 // __u16
	hdrCmdlineSize       = 0x238 // __u32
	hdrPayloadOffset     = 0x248 // __u32
	hdrPayloadLength     = 0x24c // __u32
	hdrPrefAddress       = 0x258 // __u64
	hdrInitSize          = 0x260 // __u32
	hdrEnd               = 0x268 // end of the fields hull reads
)

// Magic values.
const (
	bootFlagMagic = 0xAA55
	hdrSMagic     = 0x53726448 // "HdrS" little-endian
)

// loadflags bits.
const (
	LOADED_HIGH   = 1 << 0 // protected-mode code at 0x100000
	KASLR_FLAG    = 1 << 1
	QUIET_FLAG    = 1 << 5
	KEEP_SEGMENTS = 1 << 6
	CAN_USE_HEAP  = 1 << 7
)

// xloadflags bits.
const (
	XLF_KERNEL_64              = 1 << 0 // has the 64-bit entry at +0x200
	XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1
	XLF_EFI_HANDOVER_32        = 1 << 2
	XLF_EFI_HANDOVER_64        = 1 << 3
	XLF_EFI_KEXEC              = 1 << 4
	XLF_5LEVEL                 = 1 << 5
	XLF_5LEVEL_ENABLED         = 1 << 6
)

// type_of_loader: 0xff is "undefined", for loaders without an assigned ID.
const loaderTypeUndefined = 0xff

// E820Type is an e820 memory-range type.
type E820Type uint32

const (
	E820_TYPE_RAM      E820Type = 1
	E820_TYPE_RESERVED E820Type = 2
	E820_TYPE_ACPI     E820Type = 3
	E820_TYPE_NVS      E820Type = 4
	E820_TYPE_UNUSABLE E820Type = 5
)

func (t E820Type) String() string {
	switch t {
	case E820_TYPE_RAM:
		return "usable"
	case E820_TYPE_RESERVED:
		return "reserved"
	case E820_TYPE_ACPI:
		return "ACPI data"
	case E820_TYPE_NVS:
		return "ACPI NVS"
	case E820_TYPE_UNUSABLE:
		return "unusable"
	}
	return "type " + itoa(uint64(t))
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
