package virtio

import (
	"bytes"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// inNewNetns runs fn on a thread in a new network namespace. The thread
// is never returned to Go's scheduler: it dies with the goroutine, and the
// namespace with it.
func inNewNetns(t *testing.T, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: this thread's namespace changed
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// The device against the kernel's own network stack: the "guest" (this
// test, playing the driver) broadcasts an ARP request for the host side
// of a tap in a private netns, and the kernel's ARP reply comes back in a
// receive buffer.
func TestNetTapARP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and a tap")
	}
	guestMAC := [6]byte{0x02, 0x48, 0x55, 0x4c, 0x4c, 0x01}
	var dev *Net
	err := inNewNetns(t, func() error {
		var err error
		if dev, err = OpenTap("hulltap0", guestMAC); err != nil {
			return err
		}
		link, err := netlink.LinkByName("hulltap0")
		if err != nil {
			return err
		}
		// No IPv6 on the tap: its router and multicast-listener
		// solicitations would race the ARP reply into the one buffer.
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/hulltap0/disable_ipv6", []byte("1"), 0o644); err != nil && !os.IsNotExist(err) {
			return err
		}
		addr, _ := netlink.ParseAddr("10.99.0.1/24")
		if err := netlink.AddrAdd(link, addr); err != nil {
			return err
		}
		return netlink.LinkSetUp(link)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()

	d := newDriver(t, dev)
	d.probe(16, VIRTIO_F_VERSION_1|VIRTIO_NET_F_MAC, func() {
		// Queue 1 (transmit), in its own areas.
		d.w32(VIRTIO_MMIO_QUEUE_SEL, 1)
		d.w32(VIRTIO_MMIO_QUEUE_NUM, 16)
		d.w32(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x4000)
		d.w32(VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x5000)
		d.w32(VIRTIO_MMIO_QUEUE_USED_LOW, 0x6000)
		d.w32(VIRTIO_MMIO_QUEUE_READY, 1)
	})
	cfg := make([]byte, 6)
	d.mmio.Read(VIRTIO_MMIO_CONFIG, cfg)
	if !bytes.Equal(cfg, guestMAC[:]) {
		t.Errorf("config MAC = % x, want % x", cfg, guestMAC)
	}

	stopFD, _ := unix.Eventfd(0, unix.EFD_CLOEXEC)
	defer unix.Close(stopFD)
	stop := make(chan struct{})
	recvDone := make(chan error, 1)
	go func() { recvDone <- dev.Receive(stop, stopFD, d.mmio.Notify) }()
	defer func() {
		close(stop)
		unix.Write(stopFD, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		if err := <-recvDone; err != nil {
			t.Errorf("Receive: %v", err)
		}
	}()

	// Post one receive buffer on queue 0 (the driver helper's queue).
	rx := d.buf(nil, 2048)
	d.submit(seg{rx, 2048, true})

	// Transmit an ARP request on queue 1, built by hand.
	frame := make([]byte, sizeofNetHdr)
	frame = append(frame, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	frame = append(frame, guestMAC[:]...)
	frame = append(frame, 0x08, 0x06)                        // ARP
	frame = append(frame, 0, 1, 8, 0, 6, 4, 0, 1)            // Ethernet/IPv4, request
	frame = append(frame, guestMAC[:]...)                    // sender MAC
	frame = append(frame, net.ParseIP("10.99.0.2").To4()...) // sender IP
	frame = append(frame, make([]byte, 6)...)                // target MAC
	frame = append(frame, net.ParseIP("10.99.0.1").To4()...) // target IP
	txBuf := d.buf(frame, len(frame))
	writeDesc(d, 0x4000, 0, txBuf, uint32(len(frame)), 0)
	ring, _ := d.mem.Slice(0x5000+4, 2)
	le.PutUint16(ring, 0)
	idx, _ := d.mem.Slice(0x5000+2, 2)
	le.PutUint16(idx, 1)
	d.w32(VIRTIO_MMIO_QUEUE_NOTIFY, 1)
	if err := d.mmio.Broken(); err != nil {
		t.Fatal(err)
	}

	// Wait for the reply in the receive buffer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, n, usedIdx := d.used(0); usedIdx == 1 {
			got := d.read(rx, int(n))
			eth := got[sizeofNetHdr:]
			if le.Uint16(got[netHdrNumBuffers:]) != 1 || len(eth) < 42 || !bytes.Equal(eth[:6], guestMAC[:]) ||
				eth[12] != 0x08 || eth[13] != 0x06 || eth[21] != 2 || !bytes.Equal(eth[28:32], net.ParseIP("10.99.0.1").To4()) {
				t.Fatalf("received % x, want an ARP reply from 10.99.0.1 to our MAC", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no ARP reply arrived in the receive queue")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeDesc(d *driver, table uint64, i uint16, addr uint64, n uint32, flags uint16) {
	b, _ := d.mem.Slice(table+16*uint64(i), 16)
	le.PutUint64(b, addr)
	le.PutUint32(b[8:], n)
	le.PutUint16(b[12:], flags)
}

func TestTapOffloads(t *testing.T) {
	for _, tt := range []struct {
		features uint64
		want     int
	}{
		{0, 0},
		{VIRTIO_NET_F_MAC | VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_TSO4, 0}, // guest→host offloads need no tap flag
		{VIRTIO_NET_F_GUEST_CSUM, TUN_F_CSUM},
		{VIRTIO_NET_F_GUEST_TSO4, 0}, // TSO without GUEST_CSUM is not a valid negotiation: nothing
		{VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4, TUN_F_CSUM | TUN_F_TSO4},
		{netFeatures, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6},
	} {
		if got := tapOffloads(tt.features); got != tt.want {
			t.Errorf("tapOffloads(%#x) = %#x, want %#x", tt.features, got, tt.want)
		}
	}
}

// The tun ioctl numbers, from their _IOW parts, against x/sys/unix.
func TestTunIoctlNumbers(t *testing.T) {
	iow := func(nr, size uint32) uint32 { return 1<<30 | size<<16 | 'T'<<8 | nr }
	for _, tt := range []struct {
		name      string
		got, want uint32
		unix      uint32
	}{
		{"TUNSETIFF", TUNSETIFF, iow(202, 4), unix.TUNSETIFF},
		{"TUNSETOFFLOAD", TUNSETOFFLOAD, iow(208, 4), unix.TUNSETOFFLOAD},
		{"TUNSETVNETHDRSZ", TUNSETVNETHDRSZ, iow(216, 4), unix.TUNSETVNETHDRSZ},
	} {
		if tt.got != tt.want || tt.got != tt.unix {
			t.Errorf("%s = %#x, want _IOW = %#x (x/sys/unix: %#x)", tt.name, tt.got, tt.want, tt.unix)
		}
	}
}

// The offloads the driver negotiates reach the tap for real: a 3000-byte
// TCP super-frame sent onto the tap through a packet socket (with its
// virtio_net_hdr, as a guest's would be) comes out of hull's side of the
// tap whole when the guest took GUEST_TSO4, and cut into 1000-byte
// segments by the kernel otherwise — with a partial checksum left for the
// guest only when it took GUEST_CSUM.
func TestNetTapOffloads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and a tap")
	}
	guestMAC := [6]byte{0x02, 0x48, 0x55, 0x4c, 0x4c, 0x02}
	var dev *Net
	var pkt int
	err := inNewNetns(t, func() error {
		var err error
		if dev, err = OpenTap("hulltap1", guestMAC); err != nil {
			return err
		}
		link, err := netlink.LinkByName("hulltap1")
		if err != nil {
			return err
		}
		os.WriteFile("/proc/sys/net/ipv6/conf/hulltap1/disable_ipv6", []byte("1"), 0o644)
		if err := netlink.LinkSetUp(link); err != nil {
			return err
		}
		// The packet socket lives in this namespace, next to the tap.
		if pkt, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP))); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(pkt, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return err
		}
		return unix.Bind(pkt, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: link.Attrs().Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	defer unix.Close(pkt)

	const payload, mss = 3000, 1000
	frame := tcpSuperFrame(guestMAC, payload, mss)
	for _, tt := range []struct {
		name      string
		features  uint64
		frames    int
		gsoType   byte
		needsCsum bool
	}{
		{"GUEST_CSUM and GUEST_TSO4: the super-frame whole", VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4, 1, VIRTIO_NET_HDR_GSO_TCPV4, true},
		{"GUEST_CSUM only: segments, checksums left to the guest", VIRTIO_NET_F_GUEST_CSUM, payload / mss, VIRTIO_NET_HDR_GSO_NONE, true},
		{"no offloads: segments with their checksums", 0, payload / mss, VIRTIO_NET_HDR_GSO_NONE, false},
	} {
		d := newDriver(t, dev)
		d.probe(16, VIRTIO_F_VERSION_1|VIRTIO_NET_F_MAC|tt.features)
		if _, err := unix.Write(pkt, frame); err != nil {
			t.Fatalf("%s: sending the super-frame: %v", tt.name, err)
		}
		var got [][]byte
		total := 0
		for total < payload {
			f := readTap(t, dev)
			if f == nil {
				t.Fatalf("%s: after %d frames (%d payload bytes), nothing more on the tap", tt.name, len(got), total)
			}
			got = append(got, f)
			total += len(f) - sizeofNetHdr - 14 - 20 - 20
		}
		if len(got) != tt.frames {
			t.Errorf("%s: %d frames, want %d", tt.name, len(got), tt.frames)
		}
		for i, f := range got {
			if f[1] != tt.gsoType || (f[0]&VIRTIO_NET_HDR_F_NEEDS_CSUM != 0) != tt.needsCsum {
				t.Errorf("%s: frame %d header flags %#x gso_type %d; want gso_type %d, NEEDS_CSUM %v", tt.name, i, f[0], f[1], tt.gsoType, tt.needsCsum)
			}
		}
		d.w32(VIRTIO_MMIO_STATUS, 0) // reset: the offloads go off again
	}
}

// readTap reads one frame (with its virtio_net_hdr) from the tap, or nil
// after a second of silence.
func readTap(t *testing.T, n *Net) []byte {
	t.Helper()
	fd := int(n.tap.Fd())
	if k, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 1000); err != nil || k == 0 {
		return nil
	}
	buf := make([]byte, maxFrame)
	m, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:m]
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// tcpSuperFrame is what a guest hands its NIC with TSO: a struct
// virtio_net_hdr (the 10 bytes a packet socket's PACKET_VNET_HDR takes)
// asking for segmentation into mss-byte TCPv4 segments and a partial
// checksum, then one Ethernet frame with payload bytes of TCP data.
func tcpSuperFrame(dst [6]byte, payload, mss int) []byte {
	b := []byte{VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4}
	b = le.AppendUint16(b, 14+20+20) // hdr_len
	b = le.AppendUint16(b, uint16(mss))
	b = le.AppendUint16(b, 14+20) // csum_start: the TCP header
	b = le.AppendUint16(b, 16)    // csum_offset: its check field
	b = append(b, dst[:]...)
	b = append(b, 0x02, 0x48, 0x55, 0, 0, 1, 0x08, 0x00)
	src, dstIP := net.ParseIP("10.99.1.1").To4(), net.ParseIP("10.99.1.2").To4()
	ip := []byte{0x45, 0, byte((40 + payload) >> 8), byte(40 + payload), 0, 1, 0x40, 0, 64, unix.IPPROTO_TCP, 0, 0}
	ip = append(append(ip, src...), dstIP...)
	c := checksum(ip, 0)
	ip[10], ip[11] = byte(^c>>8), byte(^c)
	tcp := []byte{0x9c, 0x40, 0x15, 0xb3, 0, 0, 0, 1, 0, 0, 0, 0, 5 << 4, 0x18, 0xff, 0xff, 0, 0, 0, 0}
	// A partial checksum holds the pseudo-header's sum, folded.
	pseudo := append(append(append([]byte{}, src...), dstIP...), 0, unix.IPPROTO_TCP, byte((20+payload)>>8), byte(20+payload))
	p := checksum(pseudo, 0)
	tcp[16], tcp[17] = byte(p>>8), byte(p)
	b = append(append(b, ip...), tcp...)
	return append(b, bytes.Repeat([]byte("x"), payload)...)
}

// checksum is the Internet checksum's folded one's-complement sum of b.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
