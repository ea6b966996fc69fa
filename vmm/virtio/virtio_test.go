package virtio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMMIOIdentity(t *testing.T) {
	d := newDriver(t, RNG{})
	for _, tt := range []struct {
		off  uint64
		want uint32
	}{
		{VIRTIO_MMIO_MAGIC_VALUE, 0x74726976},
		{VIRTIO_MMIO_VERSION, 2},
		{VIRTIO_MMIO_DEVICE_ID, VIRTIO_ID_RNG},
		{VIRTIO_MMIO_VENDOR_ID, vendorID},
		{VIRTIO_MMIO_QUEUE_NUM_MAX, 64},
	} {
		if got := d.r32(tt.off); got != tt.want {
			t.Errorf("register %#x = %#x, want %#x", tt.off, got, tt.want)
		}
	}
	d.w32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1)
	if got := d.r32(VIRTIO_MMIO_DEVICE_FEATURES); got != 1 {
		t.Errorf("features[63:32] = %#x, want VERSION_1", got)
	}
	// A driver that does not accept VERSION_1 (a legacy driver) is refused.
	d.w32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE|VIRTIO_CONFIG_S_DRIVER)
	d.w32(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE|VIRTIO_CONFIG_S_DRIVER|VIRTIO_CONFIG_S_FEATURES_OK)
	if d.r32(VIRTIO_MMIO_STATUS)&VIRTIO_CONFIG_S_FEATURES_OK != 0 {
		t.Error("FEATURES_OK accepted without VIRTIO_F_VERSION_1")
	}
}

func TestRNG(t *testing.T) {
	d := newDriver(t, RNG{})
	d.probe(8, VIRTIO_F_VERSION_1)
	out := d.buf(nil, 64)
	head := d.submit(seg{out, 64, true})
	gotHead, n, idx := d.used(0)
	if idx != 1 || gotHead != head || n != 64 {
		t.Fatalf("used ring: idx %d head %d len %d, want 1 %d 64", idx, gotHead, n, head)
	}
	if bytes.Equal(d.read(out, 64), make([]byte, 64)) {
		t.Error("the entropy buffer is still zero")
	}
	if d.irqs != 1 || d.r32(VIRTIO_MMIO_INTERRUPT_STATUS) != VIRTIO_MMIO_INT_VRING {
		t.Errorf("%d interrupts, status %#x; want one, for the used ring", d.irqs, d.r32(VIRTIO_MMIO_INTERRUPT_STATUS))
	}
	d.w32(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING)
	if got := d.r32(VIRTIO_MMIO_INTERRUPT_STATUS); got != 0 {
		t.Errorf("interrupt status after ACK = %#x", got)
	}
}

func newDisk(t *testing.T, size int, readOnly bool) (*Block, string) {
	path := filepath.Join(t.TempDir(), "disk.img")
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i / SectorSize)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBlock(path, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, path
}

func blkHeader(typ uint32, sector uint64) []byte {
	h := make([]byte, 16)
	le.PutUint32(h, typ)
	le.PutUint64(h[8:], sector)
	return h
}

func TestBlockReadWriteFlushDiscard(t *testing.T) {
	b, path := newDisk(t, 64*SectorSize, false)
	d := newDriver(t, b)
	d.probe(16, VIRTIO_F_VERSION_1|VIRTIO_BLK_F_FLUSH|VIRTIO_BLK_F_DISCARD)
	cfg := make([]byte, 8)
	d.mmio.Read(VIRTIO_MMIO_CONFIG, cfg)
	if got := le.Uint64(cfg); got != 64 {
		t.Errorf("capacity = %d sectors, want 64", got)
	}

	// Read sectors 3-4 into two buffers.
	hdr := d.buf(blkHeader(VIRTIO_BLK_T_IN, 3), 16)
	data := d.buf(nil, 2*SectorSize)
	status := d.buf([]byte{0xff}, 1)
	d.submit(seg{hdr, 16, false}, seg{data, SectorSize, true}, seg{data + SectorSize, SectorSize, true}, seg{status, 1, true})
	if _, n, _ := d.used(0); n != 2*SectorSize+1 {
		t.Errorf("read: used length %d, want %d", n, 2*SectorSize+1)
	}
	got := d.read(data, 2*SectorSize)
	if got[0] != 3 || got[SectorSize] != 4 || d.read(status, 1)[0] != VIRTIO_BLK_S_OK {
		t.Errorf("read sectors 3-4: first bytes %d %d, status %d", got[0], got[SectorSize], d.read(status, 1)[0])
	}

	// Write sector 10, flush, then check the file.
	hdr = d.buf(blkHeader(VIRTIO_BLK_T_OUT, 10), 16)
	data = d.buf(bytes.Repeat([]byte("hull"), SectorSize/4), SectorSize)
	status = d.buf([]byte{0xff}, 1)
	d.submit(seg{hdr, 16, false}, seg{data, SectorSize, false}, seg{status, 1, true})
	hdr = d.buf(blkHeader(VIRTIO_BLK_T_FLUSH, 0), 16)
	status2 := d.buf([]byte{0xff}, 1)
	d.submit(seg{hdr, 16, false}, seg{status2, 1, true})
	file, _ := os.ReadFile(path)
	if !bytes.HasPrefix(file[10*SectorSize:], []byte("hullhull")) || d.read(status, 1)[0] != 0 || d.read(status2, 1)[0] != 0 {
		t.Errorf("write+flush did not reach the image (status %d, %d)", d.read(status, 1)[0], d.read(status2, 1)[0])
	}

	// Out of range: sector 63 with two sectors of data.
	hdr = d.buf(blkHeader(VIRTIO_BLK_T_IN, 63), 16)
	data = d.buf(nil, 2*SectorSize)
	status = d.buf([]byte{0xff}, 1)
	d.submit(seg{hdr, 16, false}, seg{data, 2 * SectorSize, true}, seg{status, 1, true})
	if d.read(status, 1)[0] != VIRTIO_BLK_S_IOERR {
		t.Errorf("read past the end: status %d, want IOERR", d.read(status, 1)[0])
	}

	// Discard sectors 0-7: the file keeps its size, the range reads zero.
	seg16 := make([]byte, 16)
	le.PutUint64(seg16, 0)
	le.PutUint32(seg16[8:], 8)
	hdr = d.buf(blkHeader(VIRTIO_BLK_T_DISCARD, 0), 16)
	ds := d.buf(seg16, 16)
	status = d.buf([]byte{0xff}, 1)
	d.submit(seg{hdr, 16, false}, seg{ds, 16, false}, seg{status, 1, true})
	file, _ = os.ReadFile(path)
	if d.read(status, 1)[0] != VIRTIO_BLK_S_OK || len(file) != 64*SectorSize || !bytes.Equal(file[SectorSize:8*SectorSize], make([]byte, 7*SectorSize)) {
		t.Errorf("discard: status %d, file %d bytes", d.read(status, 1)[0], len(file))
	}
	if err := d.mmio.Broken(); err != nil {
		t.Fatal(err)
	}
}

func TestBlockReadOnly(t *testing.T) {
	b, path := newDisk(t, 8*SectorSize, true)
	if b.Features()&VIRTIO_BLK_F_RO == 0 {
		t.Error("a read-only disk does not offer VIRTIO_BLK_F_RO")
	}
	d := newDriver(t, b)
	d.probe(8, VIRTIO_F_VERSION_1|VIRTIO_BLK_F_RO)
	hdr := d.buf(blkHeader(VIRTIO_BLK_T_OUT, 0), 16)
	data := d.buf([]byte("evil"), SectorSize)
	status := d.buf([]byte{0xff}, 1)
	d.submit(seg{hdr, 16, false}, seg{data, SectorSize, false}, seg{status, 1, true})
	if d.read(status, 1)[0] != VIRTIO_BLK_S_IOERR {
		t.Errorf("write to a read-only disk: status %d, want IOERR", d.read(status, 1)[0])
	}
	if file, _ := os.ReadFile(path); bytes.Contains(file, []byte("evil")) {
		t.Error("the write reached a read-only image")
	}
}

// Malformed queues stop the device with DEVICE_NEEDS_RESET and a config
// interrupt, and never touch memory outside the guest.
func TestQueueRejectsHostileChains(t *testing.T) {
	for _, tt := range []struct {
		name  string
		build func(d *driver)
		want  string
	}{
		{"buffer outside RAM", func(d *driver) {
			d.submit(seg{memSize - 8, 64, true})
		}, "outside guest memory"},
		{"length wraps the address space", func(d *driver) {
			d.submit(seg{^uint64(0) - 2, 16, true})
		}, "outside guest memory"},
		{"descriptor loop", func(d *driver) {
			b, _ := d.mem.Slice(descAddr, 16)
			le.PutUint64(b, heapStart)
			le.PutUint32(b[8:], 1)
			le.PutUint16(b[12:], VIRTQ_DESC_F_NEXT|VIRTQ_DESC_F_WRITE)
			le.PutUint16(b[14:], 0) // points at itself
			ring, _ := d.mem.Slice(availAddr+4, 2)
			le.PutUint16(ring, 0)
			idx, _ := d.mem.Slice(availAddr+2, 2)
			le.PutUint16(idx, 1)
			d.w32(VIRTIO_MMIO_QUEUE_NOTIFY, 0)
		}, "a loop"},
		{"head index out of range", func(d *driver) {
			ring, _ := d.mem.Slice(availAddr+4, 2)
			le.PutUint16(ring, 999)
			idx, _ := d.mem.Slice(availAddr+2, 2)
			le.PutUint16(idx, 1)
			d.w32(VIRTIO_MMIO_QUEUE_NOTIFY, 0)
		}, "descriptor index 999"},
		{"available index too far ahead", func(d *driver) {
			idx, _ := d.mem.Slice(availAddr+2, 2)
			le.PutUint16(idx, 100)
			d.w32(VIRTIO_MMIO_QUEUE_NOTIFY, 0)
		}, "more than the 8"},
		{"indirect descriptor", func(d *driver) {
			b, _ := d.mem.Slice(descAddr, 16)
			le.PutUint64(b, heapStart)
			le.PutUint32(b[8:], 16)
			le.PutUint16(b[12:], VIRTQ_DESC_F_INDIRECT)
			idx, _ := d.mem.Slice(availAddr+2, 2)
			le.PutUint16(idx, 1)
			d.w32(VIRTIO_MMIO_QUEUE_NOTIFY, 0)
		}, "indirect"},
		{"readable after writable", func(d *driver) {
			d.submit(seg{heapStart, 16, true}, seg{heapStart + 16, 16, false})
		}, "readable after a writable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newDriver(t, RNG{})
			d.probe(8, VIRTIO_F_VERSION_1)
			tt.build(d)
			err := d.mmio.Broken()
			if !errors.Is(err, ErrQueue) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Broken() = %v, want ErrQueue mentioning %q", err, tt.want)
			}
			if d.r32(VIRTIO_MMIO_STATUS)&VIRTIO_CONFIG_S_NEEDS_RESET == 0 || d.r32(VIRTIO_MMIO_INTERRUPT_STATUS)&VIRTIO_MMIO_INT_CONFIG == 0 {
				t.Error("the device did not ask for a reset")
			}
			// A reset brings the device back.
			d.next, d.avail = 0, 0
			clearRing(d)
			d.probe(8, VIRTIO_F_VERSION_1)
			out := d.buf(nil, 8)
			d.submit(seg{out, 8, true})
			if _, n, _ := d.used(0); n != 8 || d.mmio.Broken() != nil {
				t.Errorf("after reset: used length %d, broken %v", n, d.mmio.Broken())
			}
		})
	}
}

func clearRing(d *driver) {
	for _, a := range []uint64{descAddr, availAddr, usedAddr} {
		b, _ := d.mem.Slice(a, 0x1000)
		clear(b)
	}
}

func TestQueueSetupRejected(t *testing.T) {
	for _, tt := range []struct {
		name string
		size uint32
		desc uint32
	}{
		{"size not a power of two", 6, descAddr},
		{"size above the maximum", 128, descAddr},
		{"descriptor table outside RAM", 8, memSize},
		{"misaligned descriptor table", 8, descAddr + 4},
	} {
		d := newDriver(t, RNG{})
		d.w32(VIRTIO_MMIO_QUEUE_SEL, 0)
		d.w32(VIRTIO_MMIO_QUEUE_NUM, tt.size)
		d.w32(VIRTIO_MMIO_QUEUE_DESC_LOW, tt.desc)
		d.w32(VIRTIO_MMIO_QUEUE_AVAIL_LOW, availAddr)
		d.w32(VIRTIO_MMIO_QUEUE_USED_LOW, usedAddr)
		d.w32(VIRTIO_MMIO_QUEUE_READY, 1)
		if d.r32(VIRTIO_MMIO_QUEUE_READY) != 0 || !errors.Is(d.mmio.Broken(), ErrQueue) {
			t.Errorf("%s: queue became ready (broken: %v)", tt.name, d.mmio.Broken())
		}
	}
}

func TestVhostIoctlNumbers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uintptr
	}{
		{"VHOST_SET_OWNER", VHOST_SET_OWNER, 0x0000af01},
		{"VHOST_GET_FEATURES", VHOST_GET_FEATURES, 0x8008af00},
		{"VHOST_SET_FEATURES", VHOST_SET_FEATURES, 0x4008af00},
		{"VHOST_SET_MEM_TABLE", VHOST_SET_MEM_TABLE, 0x4008af03},
		{"VHOST_SET_VRING_NUM", VHOST_SET_VRING_NUM, 0x4008af10},
		{"VHOST_SET_VRING_ADDR", VHOST_SET_VRING_ADDR, 0x4028af11},
		{"VHOST_SET_VRING_BASE", VHOST_SET_VRING_BASE, 0x4008af12},
		{"VHOST_SET_VRING_KICK", VHOST_SET_VRING_KICK, 0x4008af20},
		{"VHOST_SET_VRING_CALL", VHOST_SET_VRING_CALL, 0x4008af21},
		{"VHOST_VSOCK_SET_GUEST_CID", VHOST_VSOCK_SET_GUEST_CID, 0x4008af60},
		{"VHOST_VSOCK_SET_RUNNING", VHOST_VSOCK_SET_RUNNING, 0x4004af61},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x (from <linux/vhost.h>)", tt.name, tt.got, tt.want)
		}
	}
}
