package vmm

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/vmm/acpi"
	"github.com/hullrt/hull/vmm/kvm"
	"github.com/hullrt/hull/vmm/virtio"
)

// addVirtio places each virtio device in its own MMIO window from
// virtioMMIOBase, with its own IOAPIC pin from firstDeviceGSI, in the
// order disks, the entropy device, network devices: /dev/vda is the
// first disk, eth0 the first network device.
//
// Notifications: the guest kicks queue q by writing q to QueueNotify.
// An ioeventfd per queue (KVM_IOEVENTFD with that datamatch) turns the
// write into an eventfd signal inside KVM, with no exit to hull; one
// goroutine per device waits on its queues' eventfds and serves them.
// Completions go back through an irqfd per device. A write that matches
// no ioeventfd (another value) still exits and is served on the vCPU.
func (m *VM) addVirtio() ([]acpi.MMIODevice, error) {
	var devs []virtio.Device
	for i, d := range m.cfg.Disks {
		b, err := virtio.OpenBlock(d.Path, d.ReadOnly)
		if err != nil {
			return nil, fmt.Errorf("disks[%d]: %w", i, err)
		}
		m.closers = append(m.closers, b.Close)
		devs = append(devs, b)
	}
	if m.cfg.RNG {
		devs = append(devs, virtio.RNG{})
	}
	if m.cfg.VsockCID != 0 {
		v, err := virtio.OpenVsock(m.cfg.VsockCID)
		if err != nil {
			return nil, err
		}
		m.closers = append(m.closers, v.Close)
		devs = append(devs, v)
	}
	for i, c := range m.cfg.Net {
		n, err := m.openNet(i, c)
		if err != nil {
			return nil, err
		}
		m.closers = append(m.closers, n.Close)
		devs = append(devs, n)
	}
	layout := deviceLayout(m.cfg) // the same places Explain prints
	if len(layout) != len(devs) {
		return nil, fmt.Errorf("internal error: %d virtio devices, layout has %d", len(devs), len(layout))
	}
	var out []acpi.MMIODevice
	for i, d := range devs {
		base, gsi := layout[i].Base, layout[i].GSI
		irq, err := m.irq(gsi)
		if err != nil {
			return nil, err
		}
		t := virtio.NewMMIO(d, m.mem, irq.Signal)
		if err := m.mmio.Insert(base, virtioMMIOSize, fmt.Sprintf("virtio-mmio %d (device %d)", i, d.ID()), t); err != nil {
			return nil, err
		}
		if err := m.notifier(t, base, len(d.QueueMax())); err != nil {
			return nil, err
		}
		if v, ok := d.(*virtio.Vsock); ok {
			if err := m.caller(v.CallFDs(), t); err != nil {
				return nil, err
			}
		}
		if n, ok := d.(*virtio.Net); ok {
			if err := m.receiver(n, t); err != nil {
				return nil, err
			}
		}
		out = append(out, acpi.MMIODevice{Base: uint32(base), Size: virtioMMIOSize, GSI: gsi})
	}
	return out, nil
}

// notifier registers an ioeventfd for each of the device's queues and
// starts the goroutine that serves them. Teardown signals its stop
// eventfd and waits for it before the eventfds are closed.
func (m *VM) notifier(t *virtio.MMIO, base uint64, queues int) error {
	stop, err := newEventFD()
	if err != nil {
		return err
	}
	m.closers = append(m.closers, stop.Close)
	fds := []unix.PollFd{{Fd: int32(stop.fd.Load()), Events: unix.POLLIN}}
	var queueOf []uint32 // the queue each fds[1:] entry belongs to
	kicker, _ := t.Device().(interface{ KickFD(q int) int })
	for q := 0; q < queues; q++ {
		var fd int32
		if kicker != nil && kicker.KickFD(q) >= 0 {
			// vhost waits on this queue's kicks itself.
			fd = int32(kicker.KickFD(q))
		} else {
			e, err := newEventFD()
			if err != nil {
				return err
			}
			m.closers = append(m.closers, e.Close)
			fd = int32(e.fd.Load())
			fds = append(fds, unix.PollFd{Fd: fd, Events: unix.POLLIN})
			queueOf = append(queueOf, uint32(q))
		}
		io := kvm.IOEventFD{
			Addr: base + virtio.VIRTIO_MMIO_QUEUE_NOTIFY, Len: 4, Datamatch: uint64(q),
			Fd: fd, Flags: kvm.KVM_IOEVENTFD_FLAG_DATAMATCH,
		}
		if err := m.vm.IOEventFD(io); err != nil {
			return fmt.Errorf("ioeventfd for queue %d at %#x: %w", q, io.Addr, err)
		}
		// Deassign before the eventfd closes (closers run newest first).
		m.closers = append(m.closers, func() error {
			io.Flags |= kvm.KVM_IOEVENTFD_FLAG_DEASSIGN
			return m.vm.IOEventFD(io)
		})
	}
	done := make(chan struct{})
	go serveNotifications(t, fds, queueOf, done)
	m.closers = append(m.closers, func() error {
		stop.Signal()
		<-done
		return nil
	})
	return nil
}

// receiver starts the goroutine that moves frames from a tap into the
// device's receive queue; teardown stops it before the tap closes.
func (m *VM) receiver(n *virtio.Net, t *virtio.MMIO) error {
	stopFD, err := newEventFD()
	if err != nil {
		return err
	}
	m.closers = append(m.closers, stopFD.Close)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Receive(stop, int(stopFD.fd.Load()), t.Notify); err != nil {
			m.log.Warn("virtio-net receive", "err", err)
		}
	}()
	m.closers = append(m.closers, func() error {
		close(stop)
		stopFD.Signal()
		<-done
		return nil
	})
	return nil
}

// caller forwards vhost's "used a buffer" eventfds to the transport,
// which records the interrupt cause and raises the irqfd.
func (m *VM) caller(callFDs []int, t *virtio.MMIO) error {
	stop, err := newEventFD()
	if err != nil {
		return err
	}
	m.closers = append(m.closers, stop.Close)
	fds := []unix.PollFd{{Fd: int32(stop.fd.Load()), Events: unix.POLLIN}}
	for _, fd := range callFDs {
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf [8]byte
		for {
			if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
				return
			}
			if fds[0].Revents != 0 {
				return
			}
			signalled := false
			for _, p := range fds[1:] {
				if p.Revents&unix.POLLIN != 0 {
					if n, _ := unix.Read(int(p.Fd), buf[:]); n == 8 {
						signalled = true
					}
				}
			}
			if signalled {
				t.SignalUsed()
			}
		}
	}()
	m.closers = append(m.closers, func() error {
		stop.Signal()
		<-done
		return nil
	})
	return nil
}

// serveNotifications waits for queue kicks (fds[1:]) until fds[0], the
// stop eventfd, is signalled.
func serveNotifications(t *virtio.MMIO, fds []unix.PollFd, queueOf []uint32, done chan<- struct{}) {
	defer close(done)
	var buf [8]byte
	for {
		_, err := unix.Poll(fds, -1)
		if err != nil && err != unix.EINTR {
			return
		}
		if fds[0].Revents != 0 {
			return
		}
		for i, p := range fds[1:] {
			if p.Revents&unix.POLLIN == 0 {
				continue
			}
			// Reading resets the counter: several kicks, one pass.
			if n, _ := unix.Read(int(p.Fd), buf[:]); n == 8 && binary.LittleEndian.Uint64(buf[:]) > 0 {
				t.Notify(queueOf[i])
			}
		}
	}
}
