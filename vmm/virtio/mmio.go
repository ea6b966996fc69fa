package virtio

import (
	"fmt"
	"sync"

	"github.com/hullrt/hull/vmm/memory"
)

// virtio-mmio register offsets (virtio 1.2, 4.2.2), version 2.
const (
	VIRTIO_MMIO_MAGIC_VALUE         = 0x000
	VIRTIO_MMIO_VERSION             = 0x004
	VIRTIO_MMIO_DEVICE_ID           = 0x008
	VIRTIO_MMIO_VENDOR_ID           = 0x00c
	VIRTIO_MMIO_DEVICE_FEATURES     = 0x010
	VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014
	VIRTIO_MMIO_DRIVER_FEATURES     = 0x020
	VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024
	VIRTIO_MMIO_QUEUE_SEL           = 0x030
	VIRTIO_MMIO_QUEUE_NUM_MAX       = 0x034
	VIRTIO_MMIO_QUEUE_NUM           = 0x038
	VIRTIO_MMIO_QUEUE_READY         = 0x044
	VIRTIO_MMIO_QUEUE_NOTIFY        = 0x050
	VIRTIO_MMIO_INTERRUPT_STATUS    = 0x060
	VIRTIO_MMIO_INTERRUPT_ACK       = 0x064
	VIRTIO_MMIO_STATUS              = 0x070
	VIRTIO_MMIO_QUEUE_DESC_LOW      = 0x080
	VIRTIO_MMIO_QUEUE_DESC_HIGH     = 0x084
	VIRTIO_MMIO_QUEUE_AVAIL_LOW     = 0x090
	VIRTIO_MMIO_QUEUE_AVAIL_HIGH    = 0x094
	VIRTIO_MMIO_QUEUE_USED_LOW      = 0x0a0
	VIRTIO_MMIO_QUEUE_USED_HIGH     = 0x0a4
	VIRTIO_MMIO_CONFIG_GENERATION   = 0x0fc
	VIRTIO_MMIO_CONFIG              = 0x100

	magicValue = 0x74726976 // "virt"
	vendorID   = 0x4c4c5548 // "HULL"

	VIRTIO_MMIO_INT_VRING  = 1 << 0
	VIRTIO_MMIO_INT_CONFIG = 1 << 1

	// Window is the size of each device's register window.
	Window = 0x1000
)

// Device status bits (virtio 1.2, 2.1).
const (
	VIRTIO_CONFIG_S_ACKNOWLEDGE = 1
	VIRTIO_CONFIG_S_DRIVER      = 2
	VIRTIO_CONFIG_S_DRIVER_OK   = 4
	VIRTIO_CONFIG_S_FEATURES_OK = 8
	VIRTIO_CONFIG_S_NEEDS_RESET = 0x40
	VIRTIO_CONFIG_S_FAILED      = 0x80
)

// Feature bits every device offers.
const VIRTIO_F_VERSION_1 = 1 << 32

// Device IDs (virtio 1.2, 5).
const (
	VIRTIO_ID_NET   = 1
	VIRTIO_ID_BLOCK = 2
	VIRTIO_ID_RNG   = 4
	VIRTIO_ID_VSOCK = 19
)

// Device is one virtio device type behind the MMIO transport. The
// transport owns feature negotiation, queue setup and interrupts; the
// device owns its config space and what requests mean.
type Device interface {
	// ID is the virtio device ID (VIRTIO_ID_*).
	ID() uint32
	// Features are the device-specific feature bits it offers.
	Features() uint64
	// QueueMax lists each queue's maximum size.
	QueueMax() []uint16
	// ReadConfig fills data from the device config space at offset.
	ReadConfig(offset uint64, data []byte)
	// Process consumes what the driver made available on queue q and
	// returns whether any chain was used (so the driver needs an
	// interrupt). An error (wrapping ErrQueue for guest faults) stops the
	// device until the driver resets it.
	Process(q int, queue *Queue, features uint64) (used bool, err error)
}

// Activator is a device that must be told when the driver is ready
// (DRIVER_OK): one whose data path lives elsewhere, as vhost's does.
type Activator interface {
	Activate(mem *memory.Guest, queues []Queue, features uint64) error
}

// Resetter is a device with state to drop when the driver resets it.
type Resetter interface {
	Reset()
}

// MMIO is the virtio-mmio transport for one device: the register window
// the guest programs, and the queues it describes.
type MMIO struct {
	dev Device
	mem *memory.Guest
	irq func()

	mu          sync.Mutex
	status      uint32
	devFeatSel  uint32
	drvFeatSel  uint32
	drvFeatures uint64
	queueSel    uint32
	queues      []Queue
	intStatus   uint32
	broken      error // set when the guest broke a queue; cleared by reset
}

// NewMMIO wraps dev. irq raises the device's interrupt line.
func NewMMIO(dev Device, mem *memory.Guest, irq func()) *MMIO {
	return &MMIO{dev: dev, mem: mem, irq: irq, queues: make([]Queue, len(dev.QueueMax()))}
}

// Device returns the device behind the transport.
func (t *MMIO) Device() Device { return t.dev }

func (t *MMIO) offered() uint64 { return t.dev.Features() | VIRTIO_F_VERSION_1 }

// Broken returns why the device stopped, or nil.
func (t *MMIO) Broken() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.broken
}

func (t *MMIO) Read(offset uint64, data []byte) {
	clear(data)
	if offset >= VIRTIO_MMIO_CONFIG {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.dev.ReadConfig(offset-VIRTIO_MMIO_CONFIG, data)
		return
	}
	if len(data) != 4 || offset%4 != 0 {
		return // registers are 32-bit, read whole
	}
	t.mu.Lock()
	v := t.readReg(offset)
	t.mu.Unlock()
	le.PutUint32(data, v)
}

func (t *MMIO) readReg(offset uint64) uint32 {
	switch offset {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return magicValue
	case VIRTIO_MMIO_VERSION:
		return 2
	case VIRTIO_MMIO_DEVICE_ID:
		return t.dev.ID()
	case VIRTIO_MMIO_VENDOR_ID:
		return vendorID
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if t.devFeatSel > 1 {
			return 0
		}
		return uint32(t.offered() >> (32 * t.devFeatSel))
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		if q := t.selected(); q != nil {
			return uint32(t.dev.QueueMax()[t.queueSel])
		}
		return 0
	case VIRTIO_MMIO_QUEUE_READY:
		if q := t.selected(); q != nil && q.Ready {
			return 1
		}
		return 0
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t.intStatus
	case VIRTIO_MMIO_STATUS:
		return t.status
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return 0
	}
	return 0
}

func (t *MMIO) selected() *Queue {
	if int(t.queueSel) < len(t.queues) {
		return &t.queues[t.queueSel]
	}
	return nil
}

func (t *MMIO) Write(offset uint64, data []byte) {
	if offset >= VIRTIO_MMIO_CONFIG || len(data) != 4 || offset%4 != 0 {
		return // config space is read-only for the devices hull has
	}
	v := le.Uint32(data)
	t.mu.Lock()
	raise := t.writeReg(offset, v)
	t.mu.Unlock()
	if raise {
		t.irq()
	}
}

// setup is where the driver may still configure: after FEATURES_OK is
// not required, before DRIVER_OK.
func (t *MMIO) configuring() bool { return t.status&VIRTIO_CONFIG_S_DRIVER_OK == 0 }

func (t *MMIO) writeReg(offset uint64, v uint32) (raise bool) {
	q := t.selected()
	setHalf := func(p *uint64, high bool) {
		if high {
			*p = *p&0xffffffff | uint64(v)<<32
		} else {
			*p = *p&^0xffffffff | uint64(v)
		}
	}
	switch offset {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t.devFeatSel = v
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t.drvFeatSel = v
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if t.drvFeatSel <= 1 && t.configuring() && t.status&VIRTIO_CONFIG_S_FEATURES_OK == 0 {
			setHalf(&t.drvFeatures, t.drvFeatSel == 1)
		}
	case VIRTIO_MMIO_QUEUE_SEL:
		t.queueSel = v
	case VIRTIO_MMIO_QUEUE_NUM:
		if q != nil && t.configuring() {
			q.Size = uint16(min(v, 0xffff))
		}
	case VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if q != nil && !q.Ready {
			setHalf(&q.Desc, offset == VIRTIO_MMIO_QUEUE_DESC_HIGH)
		}
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW, VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if q != nil && !q.Ready {
			setHalf(&q.Avail, offset == VIRTIO_MMIO_QUEUE_AVAIL_HIGH)
		}
	case VIRTIO_MMIO_QUEUE_USED_LOW, VIRTIO_MMIO_QUEUE_USED_HIGH:
		if q != nil && !q.Ready {
			setHalf(&q.Used, offset == VIRTIO_MMIO_QUEUE_USED_HIGH)
		}
	case VIRTIO_MMIO_QUEUE_READY:
		if q == nil {
			return false
		}
		if v == 0 {
			q.Ready = false
			return false
		}
		if err := q.validate(t.mem, t.dev.QueueMax()[t.queueSel]); err != nil {
			t.fail(err)
			return true
		}
		q.Ready = true
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		return t.notify(v)
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t.intStatus &^= v
	case VIRTIO_MMIO_STATUS:
		if v == 0 {
			t.reset()
			return false
		}
		if v&VIRTIO_CONFIG_S_FEATURES_OK != 0 && t.status&VIRTIO_CONFIG_S_FEATURES_OK == 0 {
			// The driver may accept only what was offered, and must
			// accept VERSION_1 (hull has no legacy interface).
			if t.drvFeatures&^t.offered() != 0 || t.drvFeatures&VIRTIO_F_VERSION_1 == 0 {
				v &^= VIRTIO_CONFIG_S_FEATURES_OK
			}
		}
		if v&VIRTIO_CONFIG_S_DRIVER_OK != 0 && t.status&VIRTIO_CONFIG_S_DRIVER_OK == 0 {
			if a, ok := t.dev.(Activator); ok {
				if err := a.Activate(t.mem, t.queues, t.drvFeatures); err != nil {
					t.status = v
					t.fail(err)
					return true
				}
			}
		}
		t.status = v
	}
	return false
}

// SignalUsed reports that the device (or vhost on its behalf) put buffers
// in a used ring: it sets the interrupt status the driver reads and
// raises the interrupt.
func (t *MMIO) SignalUsed() {
	t.mu.Lock()
	t.intStatus |= VIRTIO_MMIO_INT_VRING
	t.mu.Unlock()
	t.irq()
}

// notify processes queue n after the driver kicked it.
func (t *MMIO) notify(n uint32) bool {
	if t.broken != nil || t.status&VIRTIO_CONFIG_S_DRIVER_OK == 0 || int(n) >= len(t.queues) || !t.queues[n].Ready {
		return false
	}
	used, err := t.dev.Process(int(n), &t.queues[n], t.drvFeatures)
	if err != nil {
		t.fail(err)
		return true
	}
	if used {
		t.intStatus |= VIRTIO_MMIO_INT_VRING
	}
	return used
}

// Notify is the entry for an ioeventfd-driven kick: the same as a guest
// write of n to QueueNotify, raising the interrupt when needed.
func (t *MMIO) Notify(n uint32) {
	t.mu.Lock()
	raise := t.notify(n)
	t.mu.Unlock()
	if raise {
		t.irq()
	}
}

// fail marks the device as needing a reset, which tells the driver
// through a config-change interrupt; the guest's fault stays the guest's.
func (t *MMIO) fail(err error) {
	t.broken = err
	t.status |= VIRTIO_CONFIG_S_NEEDS_RESET
	t.intStatus |= VIRTIO_MMIO_INT_CONFIG
}

func (t *MMIO) reset() {
	if r, ok := t.dev.(Resetter); ok {
		r.Reset()
	}
	t.status, t.devFeatSel, t.drvFeatSel, t.drvFeatures, t.queueSel, t.intStatus = 0, 0, 0, 0, 0, 0
	t.broken = nil
	for i := range t.queues {
		t.queues[i] = Queue{}
	}
}

func (t *MMIO) String() string { return fmt.Sprintf("virtio-mmio device %d", t.dev.ID()) }
