package virtio

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// virtio-blk (virtio 1.2, 5.2).
const (
	VIRTIO_BLK_F_SEG_MAX  = 1 << 2
	VIRTIO_BLK_F_RO       = 1 << 5
	VIRTIO_BLK_F_BLK_SIZE = 1 << 6
	VIRTIO_BLK_F_FLUSH    = 1 << 9
	VIRTIO_BLK_F_DISCARD  = 1 << 13

	VIRTIO_BLK_T_IN      = 0
	VIRTIO_BLK_T_OUT     = 1
	VIRTIO_BLK_T_FLUSH   = 4
	VIRTIO_BLK_T_GET_ID  = 8
	VIRTIO_BLK_T_DISCARD = 11

	VIRTIO_BLK_S_OK     = 0
	VIRTIO_BLK_S_IOERR  = 1
	VIRTIO_BLK_S_UNSUPP = 2

	VIRTIO_BLK_ID_BYTES = 20

	SectorSize = 512

	sizeofBlkReqHeader   = 16 // type u32, reserved u32, sector u64
	sizeofDiscardSegment = 16 // sector u64, num_sectors u32, flags u32

	blkQueueMax = 256
	blkSegMax   = blkQueueMax - 2 // every descriptor but the header and status
	maxDiscard  = 1 << 22         // sectors per discard segment (2 GiB)
)

// Block is a virtio block device backed by a raw image file.
type Block struct {
	f        *os.File
	readOnly bool
	sectors  uint64
	id       string
}

// OpenBlock opens a raw disk image. The image's size is rounded down to
// whole sectors; a read-only disk refuses writes and discards with
// VIRTIO_BLK_S_IOERR and the guest sees VIRTIO_BLK_F_RO.
func OpenBlock(path string, readOnly bool) (*Block, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("disk %s: not a regular file", path)
	}
	id := st.Name()
	if len(id) > VIRTIO_BLK_ID_BYTES {
		id = id[:VIRTIO_BLK_ID_BYTES]
	}
	return &Block{f: f, readOnly: readOnly, sectors: uint64(st.Size()) / SectorSize, id: id}, nil
}

// Close closes the image.
func (b *Block) Close() error { return b.f.Close() }

func (b *Block) ID() uint32         { return VIRTIO_ID_BLOCK }
func (b *Block) QueueMax() []uint16 { return []uint16{blkQueueMax} }

func (b *Block) Features() uint64 {
	f := uint64(VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH)
	if b.readOnly {
		f |= VIRTIO_BLK_F_RO
	} else {
		f |= VIRTIO_BLK_F_DISCARD
	}
	return f
}

// ReadConfig serves struct virtio_blk_config: capacity at 0, seg_max at
// 12, blk_size at 20, and the discard limits at 36-47.
func (b *Block) ReadConfig(offset uint64, data []byte) {
	var cfg [64]byte
	le.PutUint64(cfg[0:], b.sectors)
	le.PutUint32(cfg[12:], blkSegMax)
	le.PutUint32(cfg[20:], SectorSize)
	le.PutUint32(cfg[36:], maxDiscard) // max_discard_sectors
	le.PutUint32(cfg[40:], 1)          // max_discard_seg
	le.PutUint32(cfg[44:], 1)          // discard_sector_alignment
	if offset < uint64(len(cfg)) {
		copy(data, cfg[offset:])
	}
}

// Process serves every request the driver made available.
func (b *Block) Process(_ int, q *Queue, features uint64) (bool, error) {
	used := false
	for {
		c, ok, err := q.Pop()
		if err != nil || !ok {
			return used, err
		}
		written, err := b.serve(&c)
		if err != nil {
			return used, err
		}
		if err := q.Push(c.Head, written); err != nil {
			return used, err
		}
		used = true
	}
}

// serve runs one request: a 16-byte header in the readable buffers, data
// (readable for writes, writable for reads), and a one-byte status as the
// last writable byte. A request whose shape is wrong is a queue error; an
// I/O failure or an out-of-range sector is reported to the guest in the
// status byte.
func (b *Block) serve(c *Chain) (uint32, error) {
	hdr, rest, err := gather(c.Readable, sizeofBlkReqHeader)
	if err != nil {
		return 0, err
	}
	if len(c.Writable) == 0 || len(c.Writable[len(c.Writable)-1]) == 0 {
		return 0, fmt.Errorf("%w: block request without a status byte", ErrQueue)
	}
	last := c.Writable[len(c.Writable)-1]
	status := &last[len(last)-1]
	in := append(append([]Buffer(nil), c.Writable[:len(c.Writable)-1]...), last[:len(last)-1])
	typ, sector := le.Uint32(hdr), le.Uint64(hdr[8:])
	var n uint32
	var st byte
	switch typ {
	case VIRTIO_BLK_T_IN:
		n, st = b.transfer(sector, in, false)
	case VIRTIO_BLK_T_OUT:
		_, st = b.transfer(sector, rest, true)
	case VIRTIO_BLK_T_FLUSH:
		st = b.status(b.f.Sync())
	case VIRTIO_BLK_T_GET_ID:
		id := make([]byte, VIRTIO_BLK_ID_BYTES)
		copy(id, b.id)
		n = uint32(scatter(in, id))
		st = VIRTIO_BLK_S_OK
	case VIRTIO_BLK_T_DISCARD:
		st = b.discard(rest)
	default:
		st = VIRTIO_BLK_S_UNSUPP
	}
	*status = st
	return n + 1, nil
}

func (b *Block) status(err error) byte {
	if err != nil {
		return VIRTIO_BLK_S_IOERR
	}
	return VIRTIO_BLK_S_OK
}

// transfer reads or writes bufs at sector, refusing any range outside the
// disk.
func (b *Block) transfer(sector uint64, bufs []Buffer, write bool) (uint32, byte) {
	if write && b.readOnly {
		return 0, VIRTIO_BLK_S_IOERR
	}
	total := uint64(0)
	for _, buf := range bufs {
		total += uint64(len(buf))
	}
	if !b.inRange(sector, total) {
		return 0, VIRTIO_BLK_S_IOERR
	}
	off := int64(sector * SectorSize)
	for _, buf := range bufs {
		var err error
		if write {
			_, err = b.f.WriteAt(buf, off)
		} else {
			var n int
			n, err = b.f.ReadAt(buf, off)
			if errors.Is(err, io.EOF) {
				clear(buf[n:])
				err = nil
			}
		}
		if err != nil {
			return 0, VIRTIO_BLK_S_IOERR
		}
		off += int64(len(buf))
	}
	if write {
		return 0, VIRTIO_BLK_S_OK
	}
	return uint32(total), VIRTIO_BLK_S_OK
}

func (b *Block) inRange(sector, bytes uint64) bool {
	if sector > b.sectors {
		return false
	}
	return bytes <= (b.sectors-sector)*SectorSize
}

// discard punches holes for each struct virtio_blk_discard_write_zeroes.
func (b *Block) discard(bufs []Buffer) byte {
	if b.readOnly {
		return VIRTIO_BLK_S_IOERR
	}
	data := concat(bufs)
	if len(data) == 0 || len(data)%sizeofDiscardSegment != 0 {
		return VIRTIO_BLK_S_UNSUPP
	}
	for ; len(data) > 0; data = data[sizeofDiscardSegment:] {
		sector, num, flags := le.Uint64(data), le.Uint32(data[8:]), le.Uint32(data[12:])
		if flags != 0 || num > maxDiscard || !b.inRange(sector, uint64(num)*SectorSize) {
			return VIRTIO_BLK_S_UNSUPP
		}
		err := unix.Fallocate(int(b.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE,
			int64(sector*SectorSize), int64(num)*SectorSize)
		if err != nil {
			return VIRTIO_BLK_S_IOERR
		}
	}
	return VIRTIO_BLK_S_OK
}

// gather takes the first n bytes of bufs (which may span buffers) and
// returns them with the buffers that follow.
func gather(bufs []Buffer, n int) ([]byte, []Buffer, error) {
	var out []byte
	for i, b := range bufs {
		need := n - len(out)
		if len(b) >= need {
			out = append(out, b[:need]...)
			rest := append([]Buffer(nil), bufs[i+1:]...)
			if len(b) > need {
				rest = append([]Buffer{b[need:]}, rest...)
			}
			return out, rest, nil
		}
		out = append(out, b...)
	}
	return nil, nil, fmt.Errorf("%w: request of %d bytes, want a %d-byte header", ErrQueue, len(out), n)
}

// scatter copies data into bufs and returns how much fit.
func scatter(bufs []Buffer, data []byte) int {
	n := 0
	for _, b := range bufs {
		c := copy(b, data[n:])
		n += c
		if n == len(data) {
			break
		}
	}
	return n
}

// concat joins small readable buffers (discard segments); it is bounded
// by the queue size times the segment limit the driver respects.
func concat(bufs []Buffer) []byte {
	var out []byte
	for _, b := range bufs {
		if len(out)+len(b) > 64*sizeofDiscardSegment {
			return nil
		}
		out = append(out, b...)
	}
	return out
}
