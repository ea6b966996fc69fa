package virtio

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// virtio-net (virtio 1.2, 5.1).
const (
	VIRTIO_NET_F_MAC = 1 << 5

	netRxQueue  = 0
	netTxQueue  = 1
	netQueueMax = 256

	// sizeofNetHdr is struct virtio_net_hdr_v1: flags, gso_type, hdr_len,
	// gso_size, csum_start, csum_offset, num_buffers. With VERSION_1 every
	// frame carries it; the tap is told to use the same header
	// (IFF_VNET_HDR, TUNSETVNETHDRSZ), so frames pass through unchanged.
	sizeofNetHdr     = 12
	netHdrNumBuffers = 10

	// maxFrame is the largest frame with its header hull moves: an
	// Ethernet frame of MTU 1500 without offloads fits many times over;
	// 64 KiB covers what the tap may hand us.
	maxFrame = 65562
)

// tun/tap ioctls (include/uapi/linux/if_tun.h).
const (
	IFF_TAP         = 0x0002
	IFF_NO_PI       = 0x1000
	IFF_VNET_HDR    = 0x4000
	TUNSETIFF       = 0x400454ca
	TUNSETVNETHDRSZ = 0x400454d8
)

// Net is a virtio network device backed by a tap interface: frames the
// guest transmits are written to the tap; frames the host sends to the
// tap are read by a goroutine and delivered when the guest has posted
// receive buffers.
type Net struct {
	tap *os.File
	mac [6]byte

	mu       sync.Mutex
	pending  []byte        // a received frame waiting for a guest buffer
	consumed chan struct{} // closed when pending is delivered
}

// OpenTap opens (creating if needed) the tap interface name with
// virtio-net headers, for a device with the given MAC address.
func OpenTap(name string, mac [6]byte) (*Net, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err}
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: %w", name, os.NewSyscallError("ioctl(TUNSETIFF)", err))
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, sizeofNetHdr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: %w", name, os.NewSyscallError("ioctl(TUNSETVNETHDRSZ)", err))
	}
	return &Net{tap: os.NewFile(uintptr(fd), "tap:"+name), mac: mac}, nil
}

// Close closes the tap (a persistent tap interface stays).
func (n *Net) Close() error { return n.tap.Close() }

func (n *Net) ID() uint32         { return VIRTIO_ID_NET }
func (n *Net) Features() uint64   { return VIRTIO_NET_F_MAC }
func (n *Net) QueueMax() []uint16 { return []uint16{netQueueMax, netQueueMax} }

// ReadConfig serves struct virtio_net_config: the MAC address first.
func (n *Net) ReadConfig(offset uint64, data []byte) {
	var cfg [8]byte
	copy(cfg[:], n.mac[:])
	if offset < uint64(len(cfg)) {
		copy(data, cfg[offset:])
	}
}

// Process transmits everything on the transmit queue, or delivers a
// pending received frame into the receive queue.
func (n *Net) Process(q int, queue *Queue, _ uint64) (bool, error) {
	switch q {
	case netTxQueue:
		return n.transmit(queue)
	case netRxQueue:
		return n.deliver(queue)
	}
	return false, nil
}

func (n *Net) transmit(q *Queue) (bool, error) {
	used := false
	for {
		c, ok, err := q.Pop()
		if err != nil || !ok {
			return used, err
		}
		frame := make([]byte, 0, 2048)
		for _, b := range c.Readable {
			if len(frame)+len(b) > maxFrame {
				return used, fmt.Errorf("%w: a transmitted frame over %d bytes", ErrQueue, maxFrame)
			}
			frame = append(frame, b...)
		}
		if len(frame) < sizeofNetHdr {
			return used, fmt.Errorf("%w: a transmitted frame of %d bytes has no virtio-net header", ErrQueue, len(frame))
		}
		// A frame the tap refuses (the link is down, no one listens) is
		// dropped, as a cable would; the guest's buffer is still returned.
		n.tap.Write(frame)
		if err := q.Push(c.Head, 0); err != nil {
			return used, err
		}
		used = true
	}
}

func (n *Net) deliver(q *Queue) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pending == nil {
		return false, nil
	}
	c, ok, err := q.Pop()
	if err != nil || !ok {
		return false, err // no buffer yet: the frame waits for the next kick
	}
	if c.WritableLen() < len(n.pending) {
		// Without VIRTIO_NET_F_MRG_RXBUF every buffer must hold a whole
		// frame; a smaller one gets the frame truncated to nothing.
		le.PutUint16(n.pending[netHdrNumBuffers:], 1)
		if err := q.Push(c.Head, 0); err != nil {
			return false, err
		}
	} else {
		le.PutUint16(n.pending[netHdrNumBuffers:], 1)
		written := scatter(c.Writable, n.pending)
		if err := q.Push(c.Head, uint32(written)); err != nil {
			return false, err
		}
	}
	n.pending = nil
	close(n.consumed)
	return true, nil
}

// Receive runs until stop is closed or the tap fails: it reads a frame,
// asks the transport to deliver it (kick(rxQueue) runs Process for the
// receive queue with the transport locked and raises the interrupt), and
// waits until a guest buffer took it before reading the next, so a guest
// that posts no buffers only stalls its own receive path.
func (n *Net) Receive(stop <-chan struct{}, stopFD int, kick func(q uint32)) error {
	buf := make([]byte, maxFrame)
	fds := []unix.PollFd{{Fd: int32(n.tap.Fd()), Events: unix.POLLIN}, {Fd: int32(stopFD), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("poll", err)
		}
		if fds[1].Revents != 0 {
			return nil
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			continue
		}
		m, err := unix.Read(int(n.tap.Fd()), buf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("read tap", err)
		}
		if m < sizeofNetHdr {
			continue
		}
		consumed := make(chan struct{})
		n.mu.Lock()
		n.pending = append([]byte(nil), buf[:m]...)
		n.consumed = consumed
		n.mu.Unlock()
		kick(netRxQueue)
		select {
		case <-consumed:
		case <-stop:
			return nil
		}
	}
}
