// Package virtio implements virtio devices (virtio 1.2) behind the
// virtio-mmio transport: split virtqueues, a block device over a raw
// image file, an entropy source, a network device on a tap, and a socket
// device whose data path is the host kernel's vhost-vsock.
//
// A virtio device is a register window (MMIO) through which the guest's
// driver negotiates features and tells the device where three areas of
// guest memory are for each queue: a descriptor table (buffers: guest
// address, length, readable or writable, next), an available ring (which
// chains the driver offers) and a used ring (which the device has
// finished, and how many bytes it wrote). The driver then writes the
// queue's index to QueueNotify; the device pops chains, serves them,
// pushes them to the used ring and raises its interrupt.
//
// Everything in those areas is guest-controlled. Queue checks every index
// against the queue size, detects descriptor loops, refuses buffers that
// are not wholly inside guest RAM, and a malformed queue stops only that
// device (it sets DEVICE_NEEDS_RESET); hull carries on. FuzzQueue and
// FuzzMMIO exercise this with random guest memory and register writes.
package virtio
