package virtio

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/vmm/memory"
)

// ioctl issues a vhost ioctl whose argument is a pointer to one of the
// vhost structs above (or nil).
//
// SAFETY: arg points at a Go value laid out as the C struct the request
// names (sizes pinned in vhost_test.go), holding no Go pointers; it is
// converted in the Syscall argument list, so it stays live and unmoved.
func (v *Vsock) ioctl(req uintptr, arg any) error {
	var p unsafe.Pointer
	switch a := arg.(type) {
	case nil:
	case *vhostVringState:
		p = unsafe.Pointer(a)
	case *vhostVringAddr:
		p = unsafe.Pointer(a)
	case *vhostVringFile:
		p = unsafe.Pointer(a)
	case *uint64:
		p = unsafe.Pointer(a)
	case *int32:
		p = unsafe.Pointer(a)
	case []uint64:
		p = unsafe.Pointer(unsafe.SliceData(a))
	default:
		return fmt.Errorf("vhost ioctl %#x: argument %T", req, arg)
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, v.vhost.Fd(), req, uintptr(p))
	if e != 0 {
		return &os.SyscallError{Syscall: fmt.Sprintf("ioctl(vhost %#x)", req), Err: e}
	}
	return nil
}

func (v *Vsock) ioctlU64(req uintptr, x uint64) error { return v.ioctl(req, &x) }

func (v *Vsock) setRunning(on bool) error {
	var x int32
	if on {
		x = 1
	}
	return v.ioctl(VHOST_VSOCK_SET_RUNNING, &x)
}

// setMemTable tells vhost where each guest RAM region lives in this
// process, as struct vhost_memory followed by its regions.
func (v *Vsock) setMemTable(mem *memory.Guest) error {
	regions := mem.Regions()
	buf := make([]uint64, 1+4*len(regions))
	buf[0] = uint64(len(regions)) // nregions (u32), padding (u32)
	for i, r := range regions {
		buf[1+4*i] = r.GPA
		buf[2+4*i] = uint64(len(r.Mem))
		// SAFETY: guest RAM is an mmap'd region that outlives the device.
		buf[3+4*i] = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(r.Mem))))
	}
	return v.ioctl(VHOST_SET_MEM_TABLE, buf)
}

// ringAddrs translates a queue's guest addresses into this process's
// addresses, which is what vhost wants (it then reaches guest memory
// through the memory table). Each area was checked against guest RAM when
// the queue became ready.
func (v *Vsock) ringAddrs(mem *memory.Guest, index uint32, q *Queue) (*vhostVringAddr, error) {
	host := func(gpa, n uint64) (uint64, error) {
		b, err := mem.Slice(gpa, n)
		if err != nil {
			return 0, err
		}
		// SAFETY: as above; b aliases guest RAM.
		return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))), nil
	}
	n := uint64(q.Size)
	desc, err := host(q.Desc, sizeofDesc*n)
	if err != nil {
		return nil, err
	}
	avail, err := host(q.Avail, 6+2*n)
	if err != nil {
		return nil, err
	}
	used, err := host(q.Used, 6+sizeofUsedElem*n)
	if err != nil {
		return nil, err
	}
	return &vhostVringAddr{Index: index, Desc: desc, Used: used, Avail: avail}, nil
}
