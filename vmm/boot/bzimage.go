package boot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

var le = binary.LittleEndian

// SetupHeader is what hull reads from a bzImage's setup header, named as
// in struct setup_header. Fields newer than the image's protocol Version
// are zero.
type SetupHeader struct {
	SetupSects        uint8  // 512-byte sectors of real-mode setup code after the boot sector
	Version           uint16 // boot protocol, 0x020f is 2.15
	Loadflags         uint8
	InitrdAddrMax     uint32 // highest address the initrd may end at (2.03+)
	KernelAlignment   uint32 // alignment a relocatable kernel needs (2.05+)
	RelocatableKernel bool   // may be loaded away from PrefAddress (2.05+)
	MinAlignment      uint8  // log2 of the least alignment (2.10+)
	Xloadflags        uint16 // 2.12+
	CmdlineSize       uint32 // longest command line, without the NUL (2.06+)
	PayloadOffset     uint32 // of the compressed kernel in the protected-mode part (2.08+)
	PayloadLength     uint32
	PrefAddress       uint64 // preferred load address (2.10+)
	InitSize          uint32 // memory the kernel needs from its load address to decompress and run (2.10+)
}

// BzImage is a parsed bzImage: a real-mode setup part, whose header the VMM
// copies into the zero page, and the protected-mode kernel, which it loads
// and enters at its 64-bit entry point (the kernel decompresses itself, so
// its compression does not matter).
type BzImage struct {
	Header SetupHeader
	// Setup is the header as it appears in the file, bytes [0x1f1, end of
	// header), to copy into the zero page.
	Setup []byte
	// Kernel is the protected-mode part, loaded at LoadAddress.
	Kernel []byte
	// Compression names the payload's compression, for reports.
	Compression string
}

// The least protocol hull boots: 2.12 introduced xloadflags, which says
// whether the 64-bit entry point exists.
const minProtocol = 0x020c

// Errors ParseBzImage wraps.
var (
	ErrNotBzImage = errors.New("not a bzImage")
	ErrTooOld     = errors.New("boot protocol too old")
)

// ParseBzImage reads a bzImage's setup header and splits the image. It
// rejects images without the 64-bit entry point or below protocol 2.12,
// naming the field at fault.
func ParseBzImage(b []byte) (*BzImage, error) {
	if len(b) < 0x1000 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrNotBzImage, len(b))
	}
	if v := le.Uint16(b[hdrBootFlag:]); v != bootFlagMagic {
		return nil, fmt.Errorf("%w: boot_flag is %#x, want %#x", ErrNotBzImage, v, bootFlagMagic)
	}
	if v := le.Uint32(b[hdrHeader:]); v != hdrSMagic {
		return nil, fmt.Errorf("%w: header is %#x, want \"HdrS\"", ErrNotBzImage, v)
	}
	h := SetupHeader{
		SetupSects: b[hdrSetupSects],
		Version:    le.Uint16(b[hdrVersion:]),
		Loadflags:  b[hdrLoadflags],
	}
	if h.Version < minProtocol {
		return nil, fmt.Errorf("%w: version %d.%02d, hull needs 2.12 or later for the 64-bit entry", ErrTooOld, h.Version>>8, h.Version&0xff)
	}
	h.InitrdAddrMax = le.Uint32(b[hdrInitrdAddrMax:])
	h.KernelAlignment = le.Uint32(b[hdrKernelAlignment:])
	h.RelocatableKernel = b[hdrRelocatableKernel] != 0
	h.MinAlignment = b[hdrMinAlignment]
	h.Xloadflags = le.Uint16(b[hdrXloadflags:])
	h.CmdlineSize = le.Uint32(b[hdrCmdlineSize:])
	h.PayloadOffset = le.Uint32(b[hdrPayloadOffset:])
	h.PayloadLength = le.Uint32(b[hdrPayloadLength:])
	h.PrefAddress = le.Uint64(b[hdrPrefAddress:])
	h.InitSize = le.Uint32(b[hdrInitSize:])

	var errs []error
	if h.Loadflags&LOADED_HIGH == 0 {
		errs = append(errs, errors.New("loadflags: LOADED_HIGH is clear (a zImage loaded at 0x10000)"))
	}
	if h.Xloadflags&XLF_KERNEL_64 == 0 {
		errs = append(errs, errors.New("xloadflags: XLF_KERNEL_64 is clear (no 64-bit entry point)"))
	}
	if h.KernelAlignment == 0 || h.KernelAlignment&(h.KernelAlignment-1) != 0 {
		errs = append(errs, fmt.Errorf("kernel_alignment: %#x is not a power of two", h.KernelAlignment))
	}
	if h.InitSize == 0 {
		errs = append(errs, errors.New("init_size: 0"))
	}
	if h.CmdlineSize == 0 {
		errs = append(errs, errors.New("cmdline_size: 0"))
	}
	if !h.RelocatableKernel && h.PrefAddress == 0 {
		errs = append(errs, errors.New("pref_address: 0 for a kernel that is not relocatable"))
	}
	setupSects := int(h.SetupSects)
	if setupSects == 0 {
		setupSects = 4 // the boot protocol's rule for very old images
	}
	kernelOff := (setupSects + 1) * 512
	if kernelOff >= len(b) {
		errs = append(errs, fmt.Errorf("setup_sects: %d sectors of setup reach past the %d-byte file", h.SetupSects, len(b)))
	}
	// The header ends where the jump at 0x200 lands: 0x202 + its 8-bit offset.
	hdrLen := 0x202 + int(b[hdrJump+1]) - bpHdr
	if hdrLen > 0x1000-bpHdr || hdrLen < hdrEnd-bpHdr {
		hdrLen = hdrEnd - bpHdr
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("bzImage setup header: %w", err)
	}
	img := &BzImage{
		Header: h,
		Setup:  b[bpHdr : bpHdr+hdrLen],
		Kernel: b[kernelOff:],
	}
	if off, n := uint64(h.PayloadOffset), uint64(h.PayloadLength); n >= 4 && off+n <= uint64(len(img.Kernel)) {
		img.Compression = compression(img.Kernel[off : off+n])
	}
	return img, nil
}

// compression names a payload by its magic number, as the kernel's
// decompressors recognise them.
func compression(p []byte) string {
	for _, m := range []struct {
		magic, name string
	}{
		{"\x1f\x8b", "gzip"}, {"BZh", "bzip2"}, {"\x5d\x00\x00", "lzma"},
		{"\xfd7zXZ\x00", "xz"}, {"\x89LZO", "lzo"}, {"\x02\x21\x4c\x18", "lz4"},
		{"\x28\xb5\x2f\xfd", "zstd"},
	} {
		if strings.HasPrefix(string(p[:min(len(p), 8)]), m.magic) {
			return m.name
		}
	}
	return "unknown"
}

// VersionString is the protocol version as the kernel documentation
// writes it: "2.15".
func (h SetupHeader) VersionString() string {
	return fmt.Sprintf("%d.%02d", h.Version>>8, h.Version&0xff)
}
