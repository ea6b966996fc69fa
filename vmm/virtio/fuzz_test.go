package virtio

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hullrt/hull/vmm/memory"
)

// FuzzQueue fills the queue's areas with arbitrary guest bytes and pops:
// every chain the queue hands out must lie inside guest memory, and
// nothing may panic or loop.
func FuzzQueue(f *testing.F) {
	seed := make([]byte, 0x60)
	le.PutUint64(seed[0:], 0x800) // desc 0: addr
	le.PutUint32(seed[8:], 16)
	le.PutUint16(seed[12:], VIRTQ_DESC_F_WRITE)
	f.Add(seed, []byte{0, 0, 1, 0, 0, 0}, uint16(4))
	f.Add(seed, []byte{0, 0, 0xff, 0xff, 3, 0}, uint16(4))
	f.Add([]byte{}, []byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, desc, avail []byte, size uint16) {
		mem := memory.FromRegions(memory.Region{Mem: make([]byte, 0x1000)})
		b, _ := mem.Slice(0, 0x400)
		copy(b, desc)
		a, _ := mem.Slice(0x400, 0x100)
		copy(a, avail)
		q := &Queue{Size: size, Desc: 0, Avail: 0x400, Used: 0x600}
		if err := q.validate(mem, 16); err != nil {
			return
		}
		for i := 0; i < 40; i++ {
			c, ok, err := q.Pop()
			if err != nil || !ok {
				return
			}
			for _, buf := range append(c.Readable, c.Writable...) {
				if len(buf) > 0x1000 {
					t.Fatalf("a %d-byte buffer from 4 KiB of guest memory", len(buf))
				}
			}
			if err := q.Push(c.Head, uint32(c.WritableLen())); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzMMIO writes arbitrary values to arbitrary registers of a block
// device, with arbitrary guest memory: no panic, no hang, and whatever the
// guest did, a reset brings the device back to a clean state.
func FuzzMMIO(f *testing.F) {
	f.Add([]byte{0x70, 0x0f, 0x38, 0x08, 0x44, 0x01, 0x50, 0x00})
	f.Add([]byte{0x80, 0xff, 0x44, 0x01, 0x70, 0x07, 0x50, 0x00, 0x64, 0x03})
	f.Fuzz(func(t *testing.T, ops []byte) {
		mem := memory.FromRegions(memory.Region{Mem: make([]byte, 0x4000)})
		b, _ := mem.Slice(0, 0x4000)
		for i := range b {
			b[i] = byte(i * 7)
		}
		blk := &Block{sectors: 0} // no file: every transfer is out of range
		m := NewMMIO(blk, mem, func() {})
		reg := make([]byte, 4)
		for len(ops) >= 2 {
			off := uint64(ops[0]) * 4 % 0x200
			le.PutUint32(reg, uint32(ops[1])*0x01010101)
			if ops[0]&1 == 0 {
				m.Write(off, reg)
			} else {
				m.Read(off, reg)
			}
			ops = ops[2:]
		}
		le.PutUint32(reg, 0)
		m.Write(VIRTIO_MMIO_STATUS, reg)
		if m.Broken() != nil || m.status != 0 || m.queues[0].Ready {
			t.Fatal("reset left state behind")
		}
	})
}

// FuzzBlockRequest serves arbitrary request chains against a small disk
// image: any header, sector, segment layout and discard payload. The
// image must never grow, no transfer may leave it, and nothing panics.
func FuzzBlockRequest(f *testing.F) {
	hdr := func(typ uint32, sector uint64) []byte {
		h := make([]byte, 16)
		le.PutUint32(h, typ)
		le.PutUint64(h[8:], sector)
		return h
	}
	f.Add(hdr(VIRTIO_BLK_T_IN, 0), []byte{}, uint16(512), uint8(2))
	f.Add(hdr(VIRTIO_BLK_T_OUT, 7), make([]byte, 512), uint16(1), uint8(1))
	f.Add(hdr(VIRTIO_BLK_T_DISCARD, 0), append(make([]byte, 8), 8, 0, 0, 0, 0, 0, 0, 0), uint16(1), uint8(1))
	f.Add(hdr(VIRTIO_BLK_T_OUT, ^uint64(0)), make([]byte, 512), uint16(1), uint8(1))
	f.Add(hdr(VIRTIO_BLK_T_GET_ID, 0), []byte{}, uint16(20), uint8(1))
	f.Fuzz(func(t *testing.T, header, payload []byte, writable uint16, split uint8) {
		path := filepath.Join(t.TempDir(), "disk.img")
		const size = 8 * SectorSize
		if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := OpenBlock(path, false)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		// Readable: the header and payload, cut into split+1 pieces.
		readable := append(append([]byte(nil), header...), payload...)
		var c Chain
		n := int(split%4) + 1
		for i := 0; i < n; i++ {
			lo, hi := len(readable)*i/n, len(readable)*(i+1)/n
			c.Readable = append(c.Readable, Buffer(readable[lo:hi]))
		}
		if writable > 0 {
			c.Writable = append(c.Writable, make(Buffer, int(writable)%4096+1))
		}
		written, err := b.serve(&c)
		if err == nil && int(written) > c.WritableLen() {
			t.Fatalf("used length %d exceeds the %d writable bytes", written, c.WritableLen())
		}
		st, _ := os.Stat(path)
		if st.Size() != size {
			t.Fatalf("the image grew to %d bytes", st.Size())
		}
	})
}
