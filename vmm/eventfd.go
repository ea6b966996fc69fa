package vmm

import (
	"encoding/binary"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// eventFD is an eventfd(2): a counter the kernel can signal and wait on.
// KVM raises a GSI when an irqfd's eventfd is signalled, and signals an
// ioeventfd's eventfd when the guest writes its address.
type eventFD struct {
	fd atomic.Int64 // -1 once closed
}

func newEventFD() (*eventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	e := &eventFD{}
	e.fd.Store(int64(fd))
	return e, nil
}

// Signal adds one to the counter.
func (e *eventFD) Signal() {
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	unix.Write(int(e.fd.Load()), one[:]) // EAGAIN only when the counter is saturated: signalled already
}

// Close is idempotent.
func (e *eventFD) Close() error {
	fd := e.fd.Swap(-1)
	if fd < 0 {
		return nil
	}
	return unix.Close(int(fd))
}
