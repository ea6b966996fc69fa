package virtio

import (
	"testing"

	"github.com/hullrt/hull/vmm/memory"
)

// driver plays the guest's virtio driver over a transport, in a small
// guest memory: it programs the registers as Linux's virtio_mmio does and
// builds descriptor chains in the queue's areas.
type driver struct {
	t     *testing.T
	mem   *memory.Guest
	mmio  *MMIO
	irqs  int
	size  uint16
	next  uint16 // next free descriptor
	avail uint16
	heap  uint64 // next free byte for buffers
}

const (
	descAddr  = 0x1000
	availAddr = 0x2000
	usedAddr  = 0x3000
	heapStart = 0x10000
	memSize   = 0x40000
)

func newDriver(t *testing.T, dev Device) *driver {
	d := &driver{t: t, mem: memory.FromRegions(memory.Region{Mem: make([]byte, memSize)}), heap: heapStart}
	d.mmio = NewMMIO(dev, d.mem, func() { d.irqs++ })
	return d
}

func (d *driver) w32(off uint64, v uint32) {
	b := make([]byte, 4)
	le.PutUint32(b, v)
	d.mmio.Write(off, b)
}

func (d *driver) r32(off uint64) uint32 {
	b := make([]byte, 4)
	d.mmio.Read(off, b)
	return le.Uint32(b)
}

// probe runs the driver's initialisation sequence (virtio 1.2, 3.1.1) and
// readies queue 0 with size entries.
func (d *driver) probe(size uint16, features uint64, moreQueues ...func()) {
	d.w32(VIRTIO_MMIO_STATUS, 0)
	d.w32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE)
	d.w32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE|VIRTIO_CONFIG_S_DRIVER)
	d.w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0)
	d.w32(VIRTIO_MMIO_DRIVER_FEATURES, uint32(features))
	d.w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1)
	d.w32(VIRTIO_MMIO_DRIVER_FEATURES, uint32(features>>32))
	d.w32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE|VIRTIO_CONFIG_S_DRIVER|VIRTIO_CONFIG_S_FEATURES_OK)
	if d.r32(VIRTIO_MMIO_STATUS)&VIRTIO_CONFIG_S_FEATURES_OK == 0 {
		d.t.Fatalf("the device refused features %#x", features)
	}
	d.w32(VIRTIO_MMIO_QUEUE_SEL, 0)
	d.size = size
	d.w32(VIRTIO_MMIO_QUEUE_NUM, uint32(size))
	d.w32(VIRTIO_MMIO_QUEUE_DESC_LOW, descAddr)
	d.w32(VIRTIO_MMIO_QUEUE_AVAIL_LOW, availAddr)
	d.w32(VIRTIO_MMIO_QUEUE_USED_LOW, usedAddr)
	d.w32(VIRTIO_MMIO_QUEUE_READY, 1)
	for _, f := range moreQueues {
		f()
	}
	d.w32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE|VIRTIO_CONFIG_S_DRIVER|VIRTIO_CONFIG_S_FEATURES_OK|VIRTIO_CONFIG_S_DRIVER_OK)
	if err := d.mmio.Broken(); err != nil {
		d.t.Fatal(err)
	}
}

// buf allocates n bytes of guest memory holding data (zero-padded).
func (d *driver) buf(data []byte, n int) uint64 {
	addr := d.heap
	d.heap += uint64(n+15) &^ 15
	b, err := d.mem.Slice(addr, uint64(n))
	if err != nil {
		d.t.Fatal(err)
	}
	copy(b, data)
	return addr
}

type seg struct {
	addr  uint64
	len   uint32
	write bool
}

// submit writes a chain of descriptors, makes it available and kicks.
func (d *driver) submit(segs ...seg) uint16 {
	head := d.next
	for i, s := range segs {
		idx := d.next
		d.next = (d.next + 1) % d.size
		b, _ := d.mem.Slice(descAddr+16*uint64(idx), 16)
		le.PutUint64(b, s.addr)
		le.PutUint32(b[8:], s.len)
		var flags uint16
		if s.write {
			flags |= VIRTQ_DESC_F_WRITE
		}
		if i < len(segs)-1 {
			flags |= VIRTQ_DESC_F_NEXT
		}
		le.PutUint16(b[12:], flags)
		le.PutUint16(b[14:], d.next)
	}
	ring, _ := d.mem.Slice(availAddr+4+2*uint64(d.avail%d.size), 2)
	le.PutUint16(ring, head)
	d.avail++
	idx, _ := d.mem.Slice(availAddr+2, 2)
	le.PutUint16(idx, d.avail)
	d.w32(VIRTIO_MMIO_QUEUE_NOTIFY, 0)
	return head
}

// used returns used ring entry i: the chain's head and bytes written.
func (d *driver) used(i uint16) (uint16, uint32, uint16) {
	idx, _ := d.mem.Slice(usedAddr+2, 2)
	e, _ := d.mem.Slice(usedAddr+4+8*uint64(i%d.size), 8)
	return uint16(le.Uint32(e)), le.Uint32(e[4:]), le.Uint16(idx)
}

func (d *driver) read(addr uint64, n int) []byte {
	b, _ := d.mem.Slice(addr, uint64(n))
	return append([]byte(nil), b...)
}
