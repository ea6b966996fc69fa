package virtio

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/vmm/memory"
)

// virtio-net (virtio 1.2, 5.1; include/uapi/linux/virtio_net.h).
const (
	VIRTIO_NET_F_CSUM       = 1 << 0  // the driver may send frames with a partial checksum (NEEDS_CSUM)
	VIRTIO_NET_F_GUEST_CSUM = 1 << 1  // the driver accepts frames with a partial checksum
	VIRTIO_NET_F_MAC        = 1 << 5  // the config space holds the MAC address
	VIRTIO_NET_F_GUEST_TSO4 = 1 << 7  // the driver accepts TCPv4 frames of up to 64 KiB (GSO)
	VIRTIO_NET_F_GUEST_TSO6 = 1 << 8  // … and TCPv6
	VIRTIO_NET_F_HOST_TSO4  = 1 << 11 // the driver may send TCPv4 frames of up to 64 KiB
	VIRTIO_NET_F_HOST_TSO6  = 1 << 12 // … and TCPv6

	// netFeatures is what hull offers: the MAC, and checksum and TCP
	// segmentation offload both ways. Frames and their virtio_net_hdr
	// pass between the guest and the tap unchanged; the tap's kernel side
	// does the checksums and segmentation the header asks for.
	netFeatures = VIRTIO_NET_F_MAC | VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM |
		VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6

	// struct virtio_net_hdr flags and gso_type.
	VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
	VIRTIO_NET_HDR_GSO_NONE     = 0
	VIRTIO_NET_HDR_GSO_TCPV4    = 1
	VIRTIO_NET_HDR_GSO_TCPV6    = 4

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
	TUNSETIFF       = 0x400454ca // _IOW('T', 202, int)
	TUNSETOFFLOAD   = 0x400454d0 // _IOW('T', 208, unsigned int)
	TUNSETVNETHDRSZ = 0x400454d8 // _IOW('T', 216, int)

	// TUNSETOFFLOAD's argument: the offloads the tap's reader (hull, for
	// the guest) accepts in frames it reads. The kernel ignores the TSO
	// bits without TUN_F_CSUM.
	TUN_F_CSUM = 0x01
	TUN_F_TSO4 = 0x02
	TUN_F_TSO6 = 0x04
)

// tapOffloads is TUNSETOFFLOAD's argument for the features the driver
// accepted: the tap may hand hull only what the guest takes — partial
// checksums with GUEST_CSUM, TCP super-frames with GUEST_TSO4/6 (which
// the virtio spec makes depend on GUEST_CSUM, as the tap does on
// TUN_F_CSUM). What the guest sends (CSUM, HOST_TSO4/6) needs nothing:
// the tap takes any virtio_net_hdr on write.
func tapOffloads(features uint64) int {
	if features&VIRTIO_NET_F_GUEST_CSUM == 0 {
		return 0
	}
	off := TUN_F_CSUM
	if features&VIRTIO_NET_F_GUEST_TSO4 != 0 {
		off |= TUN_F_TSO4
	}
	if features&VIRTIO_NET_F_GUEST_TSO6 != 0 {
		off |= TUN_F_TSO6
	}
	return off
}

// Net is a virtio network device backed by a tap interface: frames the
// guest transmits are written to the tap; frames the host sends to the
// tap are read by a goroutine and delivered when the guest has posted
// receive buffers.
type Net struct {
	tap  *os.File
	mac  [6]byte
	name string

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
	n := &Net{tap: os.NewFile(uintptr(fd), "tap:"+name), mac: mac, name: name}
	// No offloads until a driver accepts them: an existing tap may keep
	// a previous user's.
	if err := n.setOffloads(0); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// setOffloads tells the tap which offloads hull's reads accept.
func (n *Net) setOffloads(flags int) error {
	if err := unix.IoctlSetInt(int(n.tap.Fd()), TUNSETOFFLOAD, flags); err != nil {
		return fmt.Errorf("tap %q: %w", n.name, os.NewSyscallError(fmt.Sprintf("ioctl(TUNSETOFFLOAD, %#x)", flags), err))
	}
	return nil
}

// Activate sets the tap's offloads to what the driver accepted.
func (n *Net) Activate(_ *memory.Guest, _ []Queue, features uint64) error {
	return n.setOffloads(tapOffloads(features))
}

// Reset turns the offloads off until the driver accepts them again, and
// drops a received frame waiting for a buffer (it may be one the next
// driver does not accept).
func (n *Net) Reset() {
	n.setOffloads(0)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pending != nil {
		n.pending = nil
		close(n.consumed)
	}
}

// Close closes the tap (a persistent tap interface stays).
func (n *Net) Close() error { return n.tap.Close() }

func (n *Net) ID() uint32         { return VIRTIO_ID_NET }
func (n *Net) Features() uint64   { return netFeatures }
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
