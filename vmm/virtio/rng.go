package virtio

import "golang.org/x/sys/unix"

// RNG is a virtio entropy device (virtio 1.2, 5.4): it fills each
// writable buffer the driver offers from the host's getrandom(2).
type RNG struct{}

func (RNG) ID() uint32                       { return VIRTIO_ID_RNG }
func (RNG) Features() uint64                 { return 0 }
func (RNG) QueueMax() []uint16               { return []uint16{64} }
func (RNG) ReadConfig(_ uint64, data []byte) { clear(data) }

func (RNG) Process(_ int, q *Queue, _ uint64) (bool, error) {
	used := false
	for {
		c, ok, err := q.Pop()
		if err != nil || !ok {
			return used, err
		}
		var n uint32
		for _, b := range c.Writable {
			// At most 64 KiB a buffer: entropy, not bulk data.
			m, err := unix.Getrandom(b[:min(len(b), 1<<16)], 0)
			if err != nil {
				break
			}
			n += uint32(m)
		}
		if err := q.Push(c.Head, n); err != nil {
			return used, err
		}
		used = true
	}
}
