package devices

import (
	"fmt"
	"sort"
)

// Device is one device's register window. Read fills data (1 to 8 bytes)
// with the registers at offset; Write stores data there. Offsets are
// relative to the window's base, so a device never sees absolute guest
// addresses and can be placed anywhere. Calls may come from several vCPU
// threads at once: a device with state locks it.
type Device interface {
	Read(offset uint64, data []byte)
	Write(offset uint64, data []byte)
}

// Bus routes guest accesses (port I/O or MMIO) to the device whose window
// holds them. It is built before the vCPUs start and read-only afterwards,
// so dispatch takes no lock.
type Bus struct {
	windows []window // sorted by base, never overlapping
}

type window struct {
	base, size uint64
	name       string
	dev        Device
}

// Insert adds dev's window [base, base+size); overlapping windows are an
// error naming both devices.
func (b *Bus) Insert(base, size uint64, name string, dev Device) error {
	if size == 0 || base+size < base {
		return fmt.Errorf("bus: %s: window [%#x, +%#x) is empty or wraps", name, base, size)
	}
	for _, w := range b.windows {
		if base < w.base+w.size && w.base < base+size {
			return fmt.Errorf("bus: %s at [%#x, %#x) overlaps %s at [%#x, %#x)", name, base, base+size, w.name, w.base, w.base+w.size)
		}
	}
	b.windows = append(b.windows, window{base, size, name, dev})
	sort.Slice(b.windows, func(i, j int) bool { return b.windows[i].base < b.windows[j].base })
	return nil
}

// find returns the window wholly containing [addr, addr+n), if any: an
// access straddling a window's end reaches no device.
func (b *Bus) find(addr uint64, n int) (*window, bool) {
	i := sort.Search(len(b.windows), func(i int) bool { return b.windows[i].base+b.windows[i].size > addr })
	if i == len(b.windows) {
		return nil, false
	}
	w := &b.windows[i]
	if addr < w.base || uint64(n) > w.size || addr-w.base > w.size-uint64(n) {
		return nil, false
	}
	return w, true
}

// Read dispatches a read; with no device there it fills data with 0xff, as
// an open bus reads, and reports false.
func (b *Bus) Read(addr uint64, data []byte) bool {
	if w, ok := b.find(addr, len(data)); ok {
		w.dev.Read(addr-w.base, data)
		return true
	}
	for i := range data {
		data[i] = 0xff
	}
	return false
}

// Write dispatches a write; with no device there it is dropped and Write
// reports false.
func (b *Bus) Write(addr uint64, data []byte) bool {
	if w, ok := b.find(addr, len(data)); ok {
		w.dev.Write(addr-w.base, data)
		return true
	}
	return false
}

// String lists the windows, one a line, for --explain and tests.
func (b *Bus) String() string {
	var s string
	for _, w := range b.windows {
		s += fmt.Sprintf("0x%08x-0x%08x %s\n", w.base, w.base+w.size-1, w.name)
	}
	return s
}
