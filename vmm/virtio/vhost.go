package virtio

// The vhost ABI (include/uapi/linux/vhost.h, vhost_types.h): a kernel
// driver that serves a virtqueue's data path itself, given the guest's
// memory map and the rings' host addresses. hull uses it for vsock, whose
// sockets live in the host kernel anyway.

// ioctl encoding as in include/uapi/asm-generic/ioctl.h.
func vhostIO(nr uintptr) uintptr        { return 0xAF<<8 | nr }
func vhostIOW(nr, size uintptr) uintptr { return 1<<30 | size<<16 | 0xAF<<8 | nr }
func vhostIOR(nr, size uintptr) uintptr { return 2<<30 | size<<16 | 0xAF<<8 | nr }

// Sizes of the argument structs (C sizeof on x86-64).
const (
	sizeofVhostVringState = 8  // index u32, num u32
	sizeofVhostVringAddr  = 40 // index, flags u32; desc, used, avail, log u64
	sizeofVhostVringFile  = 8  // index u32, fd s32
	sizeofVhostMemory     = 8  // nregions u32, padding u32; regions follow
	sizeofVhostMemRegion  = 32 // guest_phys_addr, memory_size, userspace_addr, flags_padding
)

var (
	VHOST_GET_FEATURES        = vhostIOR(0x00, 8)
	VHOST_SET_FEATURES        = vhostIOW(0x00, 8)
	VHOST_SET_OWNER           = vhostIO(0x01)
	VHOST_SET_MEM_TABLE       = vhostIOW(0x03, sizeofVhostMemory)
	VHOST_SET_VRING_NUM       = vhostIOW(0x10, sizeofVhostVringState)
	VHOST_SET_VRING_ADDR      = vhostIOW(0x11, sizeofVhostVringAddr)
	VHOST_SET_VRING_BASE      = vhostIOW(0x12, sizeofVhostVringState)
	VHOST_SET_VRING_KICK      = vhostIOW(0x20, sizeofVhostVringFile)
	VHOST_SET_VRING_CALL      = vhostIOW(0x21, sizeofVhostVringFile)
	VHOST_VSOCK_SET_GUEST_CID = vhostIOW(0x60, 8)
	VHOST_VSOCK_SET_RUNNING   = vhostIOW(0x61, 4)
)

type vhostVringState struct{ Index, Num uint32 }

type vhostVringAddr struct {
	Index, Flags                   uint32
	Desc, Used, Avail, LogGuestAdr uint64
}

type vhostVringFile struct {
	Index uint32
	Fd    int32
}
