package virtio

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/vmm/memory"
)

// virtio-vsock (virtio 1.2, 5.10): queue 0 receives, 1 transmits, 2 is
// the event queue.
const (
	vsockRxQueue    = 0
	vsockTxQueue    = 1
	vsockEventQueue = 2
	vsockQueueMax   = 256

	// VMADDR_CID_HOST is the host's vsock address; guests get 3 and up.
	VMADDR_CID_HOST = 2
)

// Vsock is a virtio socket device whose data path is the host kernel's
// vhost-vsock: once the driver is ready, hull hands vhost the guest's
// memory map and the two data rings, and guest sockets meet host
// AF_VSOCK sockets at CID 2 with no copy through hull. hull keeps the
// event queue and the interrupt: vhost signals a call eventfd, hull sets
// the transport's interrupt status (the guest reads it to know why it was
// interrupted) and raises the irqfd.
type Vsock struct {
	cid   uint64
	vhost *os.File
	kick  [2]int // eventfds KVM signals (ioeventfd) and vhost waits on
	call  [2]int // eventfds vhost signals when it used a buffer

	mu      sync.Mutex
	running bool
}

// OpenVsock opens /dev/vhost-vsock for a guest with context ID cid.
func OpenVsock(cid uint64) (*Vsock, error) {
	if cid <= VMADDR_CID_HOST || cid >= 0xffffffff {
		return nil, fmt.Errorf("vsock: guest CID %d must be above 2 and below 2^32-1", cid)
	}
	f, err := os.OpenFile("/dev/vhost-vsock", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("vsock: %w (is vhost_vsock loaded?)", err)
	}
	v := &Vsock{cid: cid, vhost: f, kick: [2]int{-1, -1}, call: [2]int{-1, -1}}
	for i := range 2 {
		if v.kick[i], err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
			v.Close()
			return nil, os.NewSyscallError("eventfd", err)
		}
		if v.call[i], err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
			v.Close()
			return nil, os.NewSyscallError("eventfd", err)
		}
	}
	if err := v.ioctl(VHOST_SET_OWNER, nil); err != nil {
		v.Close()
		return nil, err
	}
	// Claim the CID now, so a clash is reported when the VM starts.
	if err := v.ioctlU64(VHOST_VSOCK_SET_GUEST_CID, cid); err != nil {
		v.Close()
		return nil, fmt.Errorf("vsock: CID %d: %w", cid, err)
	}
	return v, nil
}

// Close stops vhost and closes every descriptor.
func (v *Vsock) Close() error {
	err := v.vhost.Close()
	for _, fd := range append(v.kick[:], v.call[:]...) {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	return err
}

// KickFD is the eventfd the VMM registers as queue q's ioeventfd, or -1
// for a queue hull serves itself.
func (v *Vsock) KickFD(q int) int {
	if q < 2 {
		return v.kick[q]
	}
	return -1
}

// CallFDs are the eventfds vhost signals after using buffers.
func (v *Vsock) CallFDs() []int { return v.call[:] }

func (v *Vsock) ID() uint32         { return VIRTIO_ID_VSOCK }
func (v *Vsock) Features() uint64   { return 0 }
func (v *Vsock) QueueMax() []uint16 { return []uint16{vsockQueueMax, vsockQueueMax, vsockQueueMax} }

// ReadConfig serves struct virtio_vsock_config: the guest's CID (u64).
func (v *Vsock) ReadConfig(offset uint64, data []byte) {
	var cfg [8]byte
	le.PutUint64(cfg[:], v.cid)
	if offset < uint64(len(cfg)) {
		copy(data, cfg[offset:])
	}
}

// Process is only reached for the event queue (the data queues' kicks go
// to vhost); hull sends no events, so the driver's buffers wait there.
func (v *Vsock) Process(q int, _ *Queue, _ uint64) (bool, error) { return false, nil }

// Activate hands the data queues to vhost and starts it.
func (v *Vsock) Activate(mem *memory.Guest, queues []Queue, features uint64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.ioctlU64(VHOST_SET_FEATURES, features&VIRTIO_F_VERSION_1); err != nil {
		return err
	}
	if err := v.setMemTable(mem); err != nil {
		return err
	}
	for i := range 2 {
		q := &queues[i]
		if !q.Ready {
			return fmt.Errorf("vsock: queue %d is not ready", i)
		}
		addr, err := v.ringAddrs(mem, uint32(i), q)
		if err != nil {
			return err
		}
		steps := []struct {
			req uintptr
			arg any
		}{
			{VHOST_SET_VRING_NUM, &vhostVringState{uint32(i), uint32(q.Size)}},
			{VHOST_SET_VRING_BASE, &vhostVringState{uint32(i), 0}},
			{VHOST_SET_VRING_ADDR, addr},
			{VHOST_SET_VRING_KICK, &vhostVringFile{uint32(i), int32(v.kick[i])}},
			{VHOST_SET_VRING_CALL, &vhostVringFile{uint32(i), int32(v.call[i])}},
		}
		for _, s := range steps {
			if err := v.ioctl(s.req, s.arg); err != nil {
				return fmt.Errorf("vsock queue %d: %w", i, err)
			}
		}
	}
	if err := v.setRunning(true); err != nil {
		return err
	}
	v.running = true
	return nil
}

// Reset stops vhost when the driver resets the device.
func (v *Vsock) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.running {
		v.setRunning(false)
		v.running = false
	}
}
