// Package memory is a guest's physical memory as the VMM sees it: host
// mappings, each backing a range of guest physical addresses, with every
// access bounds-checked.
//
// Guest RAM is anonymous host memory from mmap(2), registered with KVM by
// KVM_SET_USER_MEMORY_REGION: the guest and the VMM then share the same
// pages. Addresses the VMM reads from the guest (virtqueue rings, buffer
// descriptors) are guest-controlled, so every access goes through Slice,
// which refuses any range not wholly inside one region; a hostile guest
// can point the VMM only at its own memory.
package memory

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The x86 guest physical layout: RAM from 0 up to the 32-bit MMIO hole,
// the rest from 4 GiB up.
const (
	// MMIOHoleStart is where 32-bit device space begins: virtio-mmio
	// windows, then the IOAPIC (0xfec00000) and local APIC (0xfee00000).
	MMIOHoleStart = 0xc000_0000
	// HighStart is where RAM resumes above the hole.
	HighStart = 1 << 32
)

// Region is one contiguous range of guest physical memory.
type Region struct {
	GPA uint64 // guest physical address of Mem[0]
	Mem []byte
}

// End is the first guest physical address after the region.
func (r Region) End() uint64 { return r.GPA + uint64(len(r.Mem)) }

// Guest is a guest's RAM.
type Guest struct {
	regions []Region
	mapped  bool // regions come from mmap and are unmapped by Close
}

// ErrOutOfRange is wrapped by every access outside guest RAM.
var ErrOutOfRange = errors.New("outside guest memory")

// New maps size bytes of anonymous memory as guest RAM, split around the
// MMIO hole. size must be a positive multiple of 4 KiB.
func New(size uint64) (*Guest, error) {
	if size == 0 || size%4096 != 0 {
		return nil, fmt.Errorf("guest memory size %d is not a positive multiple of 4096", size)
	}
	g := &Guest{mapped: true}
	for _, r := range Layout(size) {
		mem, err := unix.Mmap(-1, 0, int(r.Size), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("mmap %d bytes of guest memory at %#x: %w", r.Size, r.GPA, os.NewSyscallError("mmap", err))
		}
		// Transparent huge pages cut TLB misses for the guest; a hint only.
		_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
		g.regions = append(g.regions, Region{GPA: r.GPA, Mem: mem})
	}
	return g, nil
}

// Range is a guest physical range [GPA, GPA+Size).
type Range struct {
	GPA, Size uint64
}

// Layout splits size bytes of RAM around the MMIO hole.
func Layout(size uint64) []Range {
	if size <= MMIOHoleStart {
		return []Range{{0, size}}
	}
	return []Range{{0, MMIOHoleStart}, {HighStart, size - MMIOHoleStart}}
}

// FromRegions makes a Guest over caller-owned memory, as tests do with
// ordinary slices. Memory given to KVM must come from mmap (New).
func FromRegions(regions ...Region) *Guest {
	return &Guest{regions: regions}
}

// Regions returns the regions in ascending address order.
func (g *Guest) Regions() []Region { return g.regions }

// Size is the total RAM in bytes.
func (g *Guest) Size() uint64 {
	var n uint64
	for _, r := range g.regions {
		n += uint64(len(r.Mem))
	}
	return n
}

// Close unmaps memory New mapped. It is idempotent.
func (g *Guest) Close() error {
	var errs []error
	if g.mapped {
		for _, r := range g.regions {
			if err := unix.Munmap(r.Mem); err != nil {
				errs = append(errs, os.NewSyscallError("munmap", err))
			}
		}
	}
	g.regions = nil
	return errors.Join(errs...)
}

// Slice returns the n bytes at guest physical address gpa, aliasing guest
// memory, or an error wrapping ErrOutOfRange when any byte of the range is
// not RAM or the range crosses from one region into another.
func (g *Guest) Slice(gpa, n uint64) ([]byte, error) {
	for _, r := range g.regions {
		if gpa >= r.GPA && gpa-r.GPA < uint64(len(r.Mem)) {
			off := gpa - r.GPA
			if n > uint64(len(r.Mem))-off {
				break
			}
			return r.Mem[off : off+n : off+n], nil
		}
	}
	return nil, fmt.Errorf("guest range [%#x, +%#x): %w", gpa, n, ErrOutOfRange)
}

// Read copies len(p) bytes from guest address gpa.
func (g *Guest) Read(gpa uint64, p []byte) error {
	b, err := g.Slice(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(p, b)
	return nil
}

// Write copies p to guest address gpa.
func (g *Guest) Write(gpa uint64, p []byte) error {
	b, err := g.Slice(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(b, p)
	return nil
}

// Resident returns how many bytes of guest RAM the host has backed with
// pages: those the guest (or the VMM) has touched. It asks mincore(2),
// a chunk of at most 64 MiB at a time so that the vector stays small
// (16 KiB): this runs in the VM's process, whose own memory it measures.
func (g *Guest) Resident() (uint64, error) {
	const chunk = 64 << 20
	page := uint64(os.Getpagesize())
	vec := make([]byte, chunk/page)
	var n uint64
	for _, r := range g.regions {
		for off := 0; off < len(r.Mem); off += chunk {
			b := r.Mem[off:min(off+chunk, len(r.Mem))]
			v := vec[:(uint64(len(b))+page-1)/page]
			if err := mincore(b, v); err != nil {
				return 0, fmt.Errorf("guest memory at %#x: %w", r.GPA+uint64(off), os.NewSyscallError("mincore", err))
			}
			for _, x := range v {
				n += uint64(x & 1)
			}
		}
	}
	return n * page, nil
}
