package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hullrt/hull/vmm/memory"
)

var le = binary.LittleEndian

// Split virtqueue layout (virtio 1.2, 2.7).
const (
	VIRTQ_DESC_F_NEXT     = 1
	VIRTQ_DESC_F_WRITE    = 2
	VIRTQ_DESC_F_INDIRECT = 4

	sizeofDesc     = 16 // addr u64, len u32, flags u16, next u16
	sizeofUsedElem = 8  // id u32, len u32
)

// ErrQueue is wrapped by every error a guest's malformed queue causes.
// The device then stops using the queue and asks for a reset; hull itself
// carries on.
var ErrQueue = errors.New("malformed virtqueue")

// Queue is the device side of one split virtqueue in guest memory. Every
// index, address and length in it is written by the guest and checked
// before use.
type Queue struct {
	Size              uint16 // entries, a power of two no larger than the device's maximum
	Desc, Avail, Used uint64 // guest physical addresses of the three areas
	Ready             bool

	mem       *memory.Guest
	lastAvail uint16 // next avail ring entry to consume
	usedIdx   uint16 // next used ring entry to fill
}

// Buffer is one descriptor's memory, aliasing guest RAM.
type Buffer []byte

// Chain is one request: the descriptors linked from Head, readable ones
// (driver to device) first, then writable ones (device to driver).
type Chain struct {
	Head     uint16
	Readable []Buffer
	Writable []Buffer
}

// WritableLen is the total size of the writable buffers.
func (c *Chain) WritableLen() int {
	n := 0
	for _, b := range c.Writable {
		n += len(b)
	}
	return n
}

// validate checks the queue's configuration as the driver set it, and
// that its three areas lie inside guest memory.
func (q *Queue) validate(mem *memory.Guest, max uint16) error {
	if q.Size == 0 || q.Size > max || q.Size&(q.Size-1) != 0 {
		return fmt.Errorf("%w: size %d (maximum %d, a power of two)", ErrQueue, q.Size, max)
	}
	n := uint64(q.Size)
	for _, a := range []struct {
		name       string
		addr, size uint64
		alignment  uint64
	}{
		{"descriptor table", q.Desc, sizeofDesc * n, 16},
		{"available ring", q.Avail, 6 + 2*n, 2},
		{"used ring", q.Used, 6 + sizeofUsedElem*n, 4},
	} {
		if a.addr%a.alignment != 0 {
			return fmt.Errorf("%w: %s at %#x is not %d-byte aligned", ErrQueue, a.name, a.addr, a.alignment)
		}
		if _, err := mem.Slice(a.addr, a.size); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrQueue, a.name, err)
		}
	}
	q.mem = mem
	q.lastAvail, q.usedIdx = 0, 0
	return nil
}

func (q *Queue) u16(addr uint64) (uint16, error) {
	b, err := q.mem.Slice(addr, 2)
	if err != nil {
		return 0, err
	}
	return le.Uint16(b), nil
}

// Pop takes the next chain the driver made available, or returns ok false
// when there is none. A malformed chain is an error wrapping ErrQueue:
// a head or next index out of range, a loop, an indirect descriptor (not
// negotiated), a readable descriptor after a writable one, or a buffer
// outside guest memory.
func (q *Queue) Pop() (c Chain, ok bool, err error) {
	if q.mem == nil {
		return Chain{}, false, fmt.Errorf("%w: not set up", ErrQueue)
	}
	availIdx, err := q.u16(q.Avail + 2)
	if err != nil {
		return Chain{}, false, err
	}
	pending := availIdx - q.lastAvail // wraps at 2^16 like the index
	if pending == 0 {
		return Chain{}, false, nil
	}
	if pending > q.Size {
		return Chain{}, false, fmt.Errorf("%w: available index %d is %d entries ahead of %d, more than the %d the queue holds", ErrQueue, availIdx, pending, q.lastAvail, q.Size)
	}
	head, err := q.u16(q.Avail + 4 + 2*uint64(q.lastAvail%q.Size))
	if err != nil {
		return Chain{}, false, err
	}
	c, err = q.chain(head)
	if err != nil {
		return Chain{}, false, err
	}
	q.lastAvail++
	return c, true, nil
}

func (q *Queue) chain(head uint16) (Chain, error) {
	c := Chain{Head: head}
	idx := head
	for n := 0; ; n++ {
		if idx >= q.Size {
			return Chain{}, fmt.Errorf("%w: descriptor index %d, the queue has %d", ErrQueue, idx, q.Size)
		}
		if n >= int(q.Size) {
			return Chain{}, fmt.Errorf("%w: descriptor chain from %d is longer than the queue (a loop)", ErrQueue, head)
		}
		d, err := q.mem.Slice(q.Desc+sizeofDesc*uint64(idx), sizeofDesc)
		if err != nil {
			return Chain{}, err
		}
		addr, length, flags, next := le.Uint64(d), le.Uint32(d[8:]), le.Uint16(d[12:]), le.Uint16(d[14:])
		if flags&VIRTQ_DESC_F_INDIRECT != 0 {
			return Chain{}, fmt.Errorf("%w: descriptor %d is indirect, which was not negotiated", ErrQueue, idx)
		}
		buf, err := q.mem.Slice(addr, uint64(length))
		if err != nil {
			return Chain{}, fmt.Errorf("%w: descriptor %d: %w", ErrQueue, idx, err)
		}
		if flags&VIRTQ_DESC_F_WRITE != 0 {
			c.Writable = append(c.Writable, buf)
		} else {
			if len(c.Writable) > 0 {
				return Chain{}, fmt.Errorf("%w: descriptor %d is readable after a writable one", ErrQueue, idx)
			}
			c.Readable = append(c.Readable, buf)
		}
		if flags&VIRTQ_DESC_F_NEXT == 0 {
			return c, nil
		}
		idx = next
	}
}

// Push returns a chain to the driver through the used ring, saying how
// many bytes the device wrote into its writable buffers.
func (q *Queue) Push(head uint16, written uint32) error {
	e, err := q.mem.Slice(q.Used+4+sizeofUsedElem*uint64(q.usedIdx%q.Size), sizeofUsedElem)
	if err != nil {
		return err
	}
	le.PutUint32(e, uint32(head))
	le.PutUint32(e[4:], written)
	q.usedIdx++
	// The element is stored before the index that publishes it; x86 keeps
	// stores in order, so the driver never sees the index first.
	idx, err := q.mem.Slice(q.Used+2, 2)
	if err != nil {
		return err
	}
	le.PutUint16(idx, q.usedIdx)
	return nil
}
