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
