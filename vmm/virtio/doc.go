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
// The network device passes frames and their virtio_net_hdr between the
// guest and a tap opened with IFF_VNET_HDR, unchanged. It offers checksum
// and TCP segmentation offload both ways (CSUM, HOST_TSO4/6, GUEST_CSUM,
// GUEST_TSO4/6): what the guest sends, the tap's kernel side checksums and
// segments as the header asks; what the guest accepts is set on the tap
// with TUNSETOFFLOAD when the driver is ready, so the kernel hands hull
// 64 KiB TCP frames with partial checksums only for a guest that takes
// them.
//
// Everything in those areas is guest-controlled. Queue checks every index
// against the queue size, detects descriptor loops, refuses buffers that
// are not wholly inside guest RAM, and a malformed queue stops only that
// device (it sets DEVICE_NEEDS_RESET); hull carries on. FuzzQueue and
// FuzzMMIO exercise this with random guest memory and register writes.
package virtio
