package kvm

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// handle owns one file descriptor. Close is idempotent; an ioctl on a
// closed handle fails with EBADF rather than reaching a reused number.
type handle struct {
	fd atomic.Int64 // -1 once closed
}

func newHandle(fd int) *handle {
	h := new(handle)
	h.fd.Store(int64(fd))
	return h
}

func (h *handle) get() int { return int(h.fd.Load()) }

func (h *handle) close() error {
	fd := h.fd.Swap(-1)
	if fd < 0 {
		return nil
	}
	return unix.Close(int(fd))
}

// ioctlError names the request in kernel spelling so that errors read
// "ioctl(KVM_CREATE_VM): cannot allocate memory", and keeps the errno for
// errors.Is.
func ioctlError(req uintptr, errno unix.Errno) error {
	return &os.SyscallError{Syscall: "ioctl(" + ioctlName(req) + ")", Err: errno}
}

func ioctlName(req uintptr) string {
	if n, ok := ioctlNames()[req]; ok {
		return n
	}
	return fmt.Sprintf("%#x", req)
}

var ioctlNames = sync.OnceValue(func() map[uintptr]string {
	return map[uintptr]string{
		KVM_GET_API_VERSION: "KVM_GET_API_VERSION", KVM_CREATE_VM: "KVM_CREATE_VM",
		KVM_GET_MSR_INDEX_LIST: "KVM_GET_MSR_INDEX_LIST", KVM_CHECK_EXTENSION: "KVM_CHECK_EXTENSION",
		KVM_GET_VCPU_MMAP_SIZE: "KVM_GET_VCPU_MMAP_SIZE", KVM_GET_SUPPORTED_CPUID: "KVM_GET_SUPPORTED_CPUID",
		KVM_GET_MSR_FEATURE_INDEX_LIST: "KVM_GET_MSR_FEATURE_INDEX_LIST",
		KVM_CREATE_VCPU:                "KVM_CREATE_VCPU", KVM_SET_USER_MEMORY_REGION: "KVM_SET_USER_MEMORY_REGION",
		KVM_SET_TSS_ADDR: "KVM_SET_TSS_ADDR", KVM_SET_IDENTITY_MAP_ADDR: "KVM_SET_IDENTITY_MAP_ADDR",
		KVM_CREATE_IRQCHIP: "KVM_CREATE_IRQCHIP", KVM_IRQ_LINE: "KVM_IRQ_LINE",
		KVM_SET_GSI_ROUTING: "KVM_SET_GSI_ROUTING", KVM_IRQFD: "KVM_IRQFD",
		KVM_CREATE_PIT2: "KVM_CREATE_PIT2", KVM_IOEVENTFD: "KVM_IOEVENTFD",
		KVM_SET_CLOCK: "KVM_SET_CLOCK", KVM_GET_CLOCK: "KVM_GET_CLOCK",
		KVM_ENABLE_CAP: "KVM_ENABLE_CAP", KVM_SIGNAL_MSI: "KVM_SIGNAL_MSI",
		KVM_RUN: "KVM_RUN", KVM_GET_REGS: "KVM_GET_REGS", KVM_SET_REGS: "KVM_SET_REGS",
		KVM_GET_SREGS: "KVM_GET_SREGS", KVM_SET_SREGS: "KVM_SET_SREGS",
		KVM_GET_MSRS: "KVM_GET_MSRS", KVM_SET_MSRS: "KVM_SET_MSRS",
		KVM_GET_FPU: "KVM_GET_FPU", KVM_SET_FPU: "KVM_SET_FPU",
		KVM_GET_LAPIC: "KVM_GET_LAPIC", KVM_SET_LAPIC: "KVM_SET_LAPIC",
		KVM_SET_CPUID2: "KVM_SET_CPUID2", KVM_GET_CPUID2: "KVM_GET_CPUID2",
		KVM_GET_MP_STATE: "KVM_GET_MP_STATE", KVM_SET_MP_STATE: "KVM_SET_MP_STATE",
		KVM_NMI: "KVM_NMI", KVM_GET_VCPU_EVENTS: "KVM_GET_VCPU_EVENTS",
		KVM_SET_VCPU_EVENTS: "KVM_SET_VCPU_EVENTS", KVM_SET_TSC_KHZ: "KVM_SET_TSC_KHZ",
		KVM_GET_TSC_KHZ: "KVM_GET_TSC_KHZ",
	}
})

// ioctlInt issues an ioctl whose argument is a plain integer, retrying
// when a signal interrupts it.
func ioctlInt(fd int, req, arg uintptr) (int, error) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, ioctlError(req, e)
		}
		return int(r), nil
	}
}

// System is the /dev/kvm descriptor: the system ioctls, and the factory of
// VMs.
type System struct {
	h    *handle
	path string
}

// DefaultDevice is where the KVM device node lives.
const DefaultDevice = "/dev/kvm"

// Open opens the KVM device at path (normally DefaultDevice).
func Open(path string) (*System, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &System{h: newHandle(fd), path: path}, nil
}

// Close closes the device; VMs created from it stay valid.
func (s *System) Close() error { return s.h.close() }

// APIVersion is KVM_GET_API_VERSION; 12 on every kernel hull can use.
func (s *System) APIVersion() (int, error) { return ioctlInt(s.h.get(), KVM_GET_API_VERSION, 0) }

// CheckExtension is KVM_CHECK_EXTENSION: 0 when the capability is absent,
// otherwise 1 or a capability-specific count.
func (s *System) CheckExtension(c Cap) (int, error) {
	return ioctlInt(s.h.get(), KVM_CHECK_EXTENSION, uintptr(c))
}

// VCPUMmapSize is KVM_GET_VCPU_MMAP_SIZE, the size of each vCPU's shared
// kvm_run area.
func (s *System) VCPUMmapSize() (int, error) { return ioctlInt(s.h.get(), KVM_GET_VCPU_MMAP_SIZE, 0) }

// CreateVM is KVM_CREATE_VM with the default machine type. The VM keeps
// its own descriptor; s may be closed afterwards.
func (s *System) CreateVM() (*VM, error) {
	runSize, err := s.VCPUMmapSize()
	if err != nil {
		return nil, err
	}
	fd, err := ioctlInt(s.h.get(), KVM_CREATE_VM, 0)
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	return &VM{h: newHandle(fd), runSize: runSize}, nil
}

// VM is a virtual machine descriptor: memory slots, interrupt controllers
// and the factory of vCPUs.
type VM struct {
	h       *handle
	runSize int
}

// Close closes the VM descriptor. The kernel frees the VM once every vCPU
// descriptor is closed too.
func (vm *VM) Close() error { return vm.h.close() }

// CheckExtension is KVM_CHECK_EXTENSION asked of this VM (some answers,
// such as KVM_CAP_NR_MEMSLOTS, depend on the VM type).
func (vm *VM) CheckExtension(c Cap) (int, error) {
	return ioctlInt(vm.h.get(), KVM_CHECK_EXTENSION, uintptr(c))
}

// SetTSSAddr is KVM_SET_TSS_ADDR: three pages of guest physical space,
// unused by the guest, that VT-x needs to emulate real mode. AMD ignores it.
func (vm *VM) SetTSSAddr(addr uint32) error {
	_, err := ioctlInt(vm.h.get(), KVM_SET_TSS_ADDR, uintptr(addr))
	return err
}

// CreateIRQChip is KVM_CREATE_IRQCHIP: an in-kernel PIC pair, IOAPIC and a
// local APIC per vCPU (created later). It must come before the vCPUs.
func (vm *VM) CreateIRQChip() error {
	_, err := ioctlInt(vm.h.get(), KVM_CREATE_IRQCHIP, 0)
	return err
}

// CreateVCPU is KVM_CREATE_VCPU with the given APIC ID, plus the mapping
// of its kvm_run area.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	fd, err := ioctlInt(vm.h.get(), KVM_CREATE_VCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("vcpu %d: %w", id, err)
	}
	unix.CloseOnExec(fd)
	run, err := unix.Mmap(fd, 0, vm.runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("vcpu %d: mmap kvm_run: %w", id, os.NewSyscallError("mmap", err))
	}
	if len(run) < sizeofKvmRun {
		unix.Munmap(run)
		unix.Close(fd)
		return nil, fmt.Errorf("vcpu %d: kvm_run area is %d bytes, want at least %d", id, len(run), sizeofKvmRun)
	}
	return &VCPU{h: newHandle(fd), ID: id, run: run}, nil
}

// VCPU is a virtual CPU descriptor and its kvm_run area. KVM_RUN and the
// register ioctls must all be issued from one OS thread: callers lock a
// goroutine to its thread (runtime.LockOSThread) for the vCPU's life.
type VCPU struct {
	h   *handle
	ID  int
	run []byte

	closeOnce sync.Once
	closeErr  error
}

// Close unmaps kvm_run and closes the vCPU descriptor; it is idempotent.
func (v *VCPU) Close() error {
	v.closeOnce.Do(func() {
		err1 := unix.Munmap(v.run)
		err2 := v.h.close()
		v.closeErr = errors.Join(err1, err2)
	})
	return v.closeErr
}

// Run is KVM_RUN: it enters the guest and returns at the next exit, which
// Exit then decodes. An interrupted run (a signal, or SetImmediateExit)
// returns ErrInterrupted.
func (v *VCPU) Run() error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(v.h.get()), KVM_RUN, 0)
	switch e {
	case 0:
		return nil
	case unix.EINTR, unix.EAGAIN:
		return ErrInterrupted
	default:
		return ioctlError(KVM_RUN, e)
	}
}

// ErrInterrupted is returned by Run when KVM_RUN came back without a guest
// exit: a signal arrived or immediate_exit was set.
var ErrInterrupted = errors.New("KVM_RUN interrupted")

// SetImmediateExit sets kvm_run.immediate_exit: while it is set, KVM_RUN
// returns EINTR at once instead of entering the guest. This is how another
// goroutine stops a vCPU (KVM_CAP_IMMEDIATE_EXIT).
func (v *VCPU) SetImmediateExit(on bool) {
	var b byte
	if on {
		b = 1
	}
	atomicStoreByte(&v.run[runImmediateExit], b)
}

// Exit decodes the exit KVM_RUN last returned. The data slices of IO and
// MMIO exits alias the kvm_run area: writing them is how an IN or an MMIO
// read is answered, before the next Run.
func (v *VCPU) Exit() (Exit, error) { return DecodeExit(v.run) }
