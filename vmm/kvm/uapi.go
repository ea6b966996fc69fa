package kvm

import "strconv"

// The KVM ABI hull uses, in the kernel's spelling, from
// include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h. Every
// struct mirrors its C layout on x86-64 with the padding spelled out;
// uapi_unsafe_test.go pins the sizes and uapi_test.go the ioctl numbers.

// ioctl request encoding, include/uapi/asm-generic/ioctl.h:
//
//	bits 31-30 direction, 29-16 argument size, 15-8 type, 7-0 number.
const (
	_IOC_NRBITS   = 8
	_IOC_TYPEBITS = 8
	_IOC_SIZEBITS = 14

	_IOC_NRSHIFT   = 0
	_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
	_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
	_IOC_DIRSHIFT  = _IOC_SIZESHIFT + _IOC_SIZEBITS

	_IOC_NONE  = 0
	_IOC_WRITE = 1 // userspace writes, the kernel reads
	_IOC_READ  = 2 // the kernel writes, userspace reads
)

func _IOC(dir, typ, nr, size uintptr) uintptr {
	return dir<<_IOC_DIRSHIFT | typ<<_IOC_TYPESHIFT | nr<<_IOC_NRSHIFT | size<<_IOC_SIZESHIFT
}
func _IO(typ, nr uintptr) uintptr         { return _IOC(_IOC_NONE, typ, nr, 0) }
func _IOR(typ, nr, size uintptr) uintptr  { return _IOC(_IOC_READ, typ, nr, size) }
func _IOW(typ, nr, size uintptr) uintptr  { return _IOC(_IOC_WRITE, typ, nr, size) }
func _IOWR(typ, nr, size uintptr) uintptr { return _IOC(_IOC_READ|_IOC_WRITE, typ, nr, size) }

// KVMIO is KVM's ioctl type byte.
const KVMIO = 0xAE

// KVM_API_VERSION is the only API version there has ever been in a
// mainline kernel (since 2.6.22).
const KVM_API_VERSION = 12

// Sizes of the structs passed by the ioctls below (the C sizeof). They are
// constants rather than unsafe.Sizeof so that this file stays free of
// unsafe; uapi_unsafe_test.go checks they equal the Go structs' sizes.
const (
	sizeofKvmMsrList               = 4
	sizeofKvmCpuid2                = 8
	sizeofKvmUserspaceMemoryRegion = 32
	sizeofU64                      = 8
	sizeofKvmIrqLevel              = 8
	sizeofKvmPitConfig             = 64
	sizeofKvmIrqfd                 = 32
	sizeofKvmIoeventfd             = 64
	sizeofKvmIrqRouting            = 8
	sizeofKvmEnableCap             = 104
	sizeofKvmMsi                   = 32
	sizeofKvmRegs                  = 144
	sizeofKvmSregs                 = 312
	sizeofKvmMsrs                  = 8
	sizeofKvmFpu                   = 416
	sizeofKvmLapicState            = 1024
	sizeofKvmMpState               = 4
	sizeofKvmVcpuEvents            = 64
	sizeofKvmRun                   = 2352
	sizeofKvmSegment               = 24
	sizeofKvmDtable                = 16
	sizeofKvmCpuidEntry2           = 40
	sizeofKvmMsrEntry              = 16
	sizeofKvmIrqRoutingEntry       = 48
	sizeofKvmClockData             = 48
	sizeofKvmRunExitUnion          = 256
	offsetofKvmRunExit             = 32
	offsetofKvmRunS                = 304
)

// System ioctls, issued on the /dev/kvm descriptor.
var (
	KVM_GET_API_VERSION            = _IO(KVMIO, 0x00)
	KVM_CREATE_VM                  = _IO(KVMIO, 0x01)
	KVM_GET_MSR_INDEX_LIST         = _IOWR(KVMIO, 0x02, sizeofKvmMsrList)
	KVM_CHECK_EXTENSION            = _IO(KVMIO, 0x03)
	KVM_GET_VCPU_MMAP_SIZE         = _IO(KVMIO, 0x04)
	KVM_GET_SUPPORTED_CPUID        = _IOWR(KVMIO, 0x05, sizeofKvmCpuid2)
	KVM_GET_MSR_FEATURE_INDEX_LIST = _IOWR(KVMIO, 0x0a, sizeofKvmMsrList)
)

// VM ioctls, issued on the descriptor KVM_CREATE_VM returns.
var (
	KVM_CREATE_VCPU            = _IO(KVMIO, 0x41)
	KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, sizeofKvmUserspaceMemoryRegion)
	KVM_SET_TSS_ADDR           = _IO(KVMIO, 0x47)
	KVM_SET_IDENTITY_MAP_ADDR  = _IOW(KVMIO, 0x48, sizeofU64)
	KVM_CREATE_IRQCHIP         = _IO(KVMIO, 0x60)
	KVM_IRQ_LINE               = _IOW(KVMIO, 0x61, sizeofKvmIrqLevel)
	KVM_SET_GSI_ROUTING        = _IOW(KVMIO, 0x6a, sizeofKvmIrqRouting)
	KVM_IRQFD                  = _IOW(KVMIO, 0x76, sizeofKvmIrqfd)
	KVM_CREATE_PIT2            = _IOW(KVMIO, 0x77, sizeofKvmPitConfig)
	KVM_IOEVENTFD              = _IOW(KVMIO, 0x79, sizeofKvmIoeventfd)
	KVM_SET_CLOCK              = _IOW(KVMIO, 0x7b, sizeofKvmClockData)
	KVM_GET_CLOCK              = _IOR(KVMIO, 0x7c, sizeofKvmClockData)
	KVM_ENABLE_CAP             = _IOW(KVMIO, 0xa3, sizeofKvmEnableCap)
	KVM_SIGNAL_MSI             = _IOW(KVMIO, 0xa5, sizeofKvmMsi)
)

// vCPU ioctls, issued on the descriptor KVM_CREATE_VCPU returns.
var (
	KVM_RUN             = _IO(KVMIO, 0x80)
	KVM_GET_REGS        = _IOR(KVMIO, 0x81, sizeofKvmRegs)
	KVM_SET_REGS        = _IOW(KVMIO, 0x82, sizeofKvmRegs)
	KVM_GET_SREGS       = _IOR(KVMIO, 0x83, sizeofKvmSregs)
	KVM_SET_SREGS       = _IOW(KVMIO, 0x84, sizeofKvmSregs)
	KVM_GET_MSRS        = _IOWR(KVMIO, 0x88, sizeofKvmMsrs)
	KVM_SET_MSRS        = _IOW(KVMIO, 0x89, sizeofKvmMsrs)
	KVM_GET_FPU         = _IOR(KVMIO, 0x8c, sizeofKvmFpu)
	KVM_SET_FPU         = _IOW(KVMIO, 0x8d, sizeofKvmFpu)
	KVM_GET_LAPIC       = _IOR(KVMIO, 0x8e, sizeofKvmLapicState)
	KVM_SET_LAPIC       = _IOW(KVMIO, 0x8f, sizeofKvmLapicState)
	KVM_SET_CPUID2      = _IOW(KVMIO, 0x90, sizeofKvmCpuid2)
	KVM_GET_CPUID2      = _IOWR(KVMIO, 0x91, sizeofKvmCpuid2)
	KVM_GET_MP_STATE    = _IOR(KVMIO, 0x98, sizeofKvmMpState)
	KVM_SET_MP_STATE    = _IOW(KVMIO, 0x99, sizeofKvmMpState)
	KVM_NMI             = _IO(KVMIO, 0x9a)
	KVM_GET_VCPU_EVENTS = _IOR(KVMIO, 0x9f, sizeofKvmVcpuEvents)
	KVM_SET_VCPU_EVENTS = _IOW(KVMIO, 0xa0, sizeofKvmVcpuEvents)
	KVM_SET_TSC_KHZ     = _IO(KVMIO, 0xa2)
	KVM_GET_TSC_KHZ     = _IO(KVMIO, 0xa3)
)

// Cap is a KVM_CAP_* extension number, the argument of KVM_CHECK_EXTENSION.
type Cap int

// The capabilities hull asks about (include/uapi/linux/kvm.h).
const (
	KVM_CAP_IRQCHIP               Cap = 0
	KVM_CAP_HLT                   Cap = 1
	KVM_CAP_USER_MEMORY           Cap = 3
	KVM_CAP_SET_TSS_ADDR          Cap = 4
	KVM_CAP_EXT_CPUID             Cap = 7
	KVM_CAP_NR_VCPUS              Cap = 9
	KVM_CAP_NR_MEMSLOTS           Cap = 10
	KVM_CAP_PIT                   Cap = 11
	KVM_CAP_MP_STATE              Cap = 14
	KVM_CAP_SYNC_MMU              Cap = 16
	KVM_CAP_IRQ_ROUTING           Cap = 25
	KVM_CAP_IRQFD                 Cap = 32
	KVM_CAP_PIT2                  Cap = 33
	KVM_CAP_PIT_STATE2            Cap = 35
	KVM_CAP_IOEVENTFD             Cap = 36
	KVM_CAP_SET_IDENTITY_MAP_ADDR Cap = 37
	KVM_CAP_ADJUST_CLOCK          Cap = 39
	KVM_CAP_INTERNAL_ERROR_DATA   Cap = 40
	KVM_CAP_VCPU_EVENTS           Cap = 41
	KVM_CAP_XSAVE                 Cap = 55
	KVM_CAP_XCRS                  Cap = 56
	KVM_CAP_GET_TSC_KHZ           Cap = 61
	KVM_CAP_MAX_VCPUS             Cap = 66
	KVM_CAP_TSC_DEADLINE_TIMER    Cap = 72
	KVM_CAP_SIGNAL_MSI            Cap = 77
	KVM_CAP_READONLY_MEM          Cap = 81
	KVM_CAP_IRQFD_RESAMPLE        Cap = 82
	KVM_CAP_SPLIT_IRQCHIP         Cap = 121
	KVM_CAP_MAX_VCPU_ID           Cap = 128
	KVM_CAP_X2APIC_API            Cap = 129
	KVM_CAP_IMMEDIATE_EXIT        Cap = 136
	KVM_CAP_X86_DISABLE_EXITS     Cap = 143
	KVM_CAP_GET_MSR_FEATURES      Cap = 153
)

var capNames = map[Cap]string{
	KVM_CAP_IRQCHIP: "KVM_CAP_IRQCHIP", KVM_CAP_HLT: "KVM_CAP_HLT",
	KVM_CAP_USER_MEMORY: "KVM_CAP_USER_MEMORY", KVM_CAP_SET_TSS_ADDR: "KVM_CAP_SET_TSS_ADDR",
	KVM_CAP_EXT_CPUID: "KVM_CAP_EXT_CPUID", KVM_CAP_NR_VCPUS: "KVM_CAP_NR_VCPUS",
	KVM_CAP_NR_MEMSLOTS: "KVM_CAP_NR_MEMSLOTS", KVM_CAP_PIT: "KVM_CAP_PIT",
	KVM_CAP_MP_STATE: "KVM_CAP_MP_STATE", KVM_CAP_SYNC_MMU: "KVM_CAP_SYNC_MMU",
	KVM_CAP_IRQ_ROUTING: "KVM_CAP_IRQ_ROUTING", KVM_CAP_IRQFD: "KVM_CAP_IRQFD",
	KVM_CAP_PIT2: "KVM_CAP_PIT2", KVM_CAP_PIT_STATE2: "KVM_CAP_PIT_STATE2",
	KVM_CAP_IOEVENTFD: "KVM_CAP_IOEVENTFD", KVM_CAP_SET_IDENTITY_MAP_ADDR: "KVM_CAP_SET_IDENTITY_MAP_ADDR",
	KVM_CAP_ADJUST_CLOCK: "KVM_CAP_ADJUST_CLOCK", KVM_CAP_INTERNAL_ERROR_DATA: "KVM_CAP_INTERNAL_ERROR_DATA",
	KVM_CAP_VCPU_EVENTS: "KVM_CAP_VCPU_EVENTS", KVM_CAP_XSAVE: "KVM_CAP_XSAVE",
	KVM_CAP_XCRS: "KVM_CAP_XCRS", KVM_CAP_GET_TSC_KHZ: "KVM_CAP_GET_TSC_KHZ",
	KVM_CAP_MAX_VCPUS: "KVM_CAP_MAX_VCPUS", KVM_CAP_TSC_DEADLINE_TIMER: "KVM_CAP_TSC_DEADLINE_TIMER",
	KVM_CAP_SIGNAL_MSI: "KVM_CAP_SIGNAL_MSI", KVM_CAP_READONLY_MEM: "KVM_CAP_READONLY_MEM",
	KVM_CAP_IRQFD_RESAMPLE: "KVM_CAP_IRQFD_RESAMPLE", KVM_CAP_SPLIT_IRQCHIP: "KVM_CAP_SPLIT_IRQCHIP",
	KVM_CAP_MAX_VCPU_ID: "KVM_CAP_MAX_VCPU_ID", KVM_CAP_X2APIC_API: "KVM_CAP_X2APIC_API",
	KVM_CAP_IMMEDIATE_EXIT: "KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_X86_DISABLE_EXITS: "KVM_CAP_X86_DISABLE_EXITS",
	KVM_CAP_GET_MSR_FEATURES: "KVM_CAP_GET_MSR_FEATURES",
}

// String returns the kernel's name, or KVM_CAP_<n> for one hull does not name.
func (c Cap) String() string {
	if n, ok := capNames[c]; ok {
		return n
	}
	return "KVM_CAP_" + strconv.Itoa(int(c))
}

// ExitReason is kvm_run.exit_reason: why KVM_RUN returned to userspace.
type ExitReason uint32

const (
	KVM_EXIT_UNKNOWN         ExitReason = 0
	KVM_EXIT_EXCEPTION       ExitReason = 1
	KVM_EXIT_IO              ExitReason = 2
	KVM_EXIT_HYPERCALL       ExitReason = 3
	KVM_EXIT_DEBUG           ExitReason = 4
	KVM_EXIT_HLT             ExitReason = 5
	KVM_EXIT_MMIO            ExitReason = 6
	KVM_EXIT_IRQ_WINDOW_OPEN ExitReason = 7
	KVM_EXIT_SHUTDOWN        ExitReason = 8
	KVM_EXIT_FAIL_ENTRY      ExitReason = 9
	KVM_EXIT_INTR            ExitReason = 10
	KVM_EXIT_SET_TPR         ExitReason = 11
	KVM_EXIT_TPR_ACCESS      ExitReason = 12
	KVM_EXIT_NMI             ExitReason = 16
	KVM_EXIT_INTERNAL_ERROR  ExitReason = 17
	KVM_EXIT_SYSTEM_EVENT    ExitReason = 24
	KVM_EXIT_IOAPIC_EOI      ExitReason = 26
	KVM_EXIT_HYPERV          ExitReason = 27
	KVM_EXIT_X86_RDMSR       ExitReason = 29
	KVM_EXIT_X86_WRMSR       ExitReason = 30
	KVM_EXIT_DIRTY_RING_FULL ExitReason = 31
	KVM_EXIT_AP_RESET_HOLD   ExitReason = 32
	KVM_EXIT_X86_BUS_LOCK    ExitReason = 33
	KVM_EXIT_NOTIFY          ExitReason = 37
	KVM_EXIT_MEMORY_FAULT    ExitReason = 39
)

var exitNames = map[ExitReason]string{
	KVM_EXIT_UNKNOWN: "KVM_EXIT_UNKNOWN", KVM_EXIT_EXCEPTION: "KVM_EXIT_EXCEPTION",
	KVM_EXIT_IO: "KVM_EXIT_IO", KVM_EXIT_HYPERCALL: "KVM_EXIT_HYPERCALL",
	KVM_EXIT_DEBUG: "KVM_EXIT_DEBUG", KVM_EXIT_HLT: "KVM_EXIT_HLT",
	KVM_EXIT_MMIO: "KVM_EXIT_MMIO", KVM_EXIT_IRQ_WINDOW_OPEN: "KVM_EXIT_IRQ_WINDOW_OPEN",
	KVM_EXIT_SHUTDOWN: "KVM_EXIT_SHUTDOWN", KVM_EXIT_FAIL_ENTRY: "KVM_EXIT_FAIL_ENTRY",
	KVM_EXIT_INTR: "KVM_EXIT_INTR", KVM_EXIT_SET_TPR: "KVM_EXIT_SET_TPR",
	KVM_EXIT_TPR_ACCESS: "KVM_EXIT_TPR_ACCESS", KVM_EXIT_NMI: "KVM_EXIT_NMI",
	KVM_EXIT_INTERNAL_ERROR: "KVM_EXIT_INTERNAL_ERROR", KVM_EXIT_SYSTEM_EVENT: "KVM_EXIT_SYSTEM_EVENT",
	KVM_EXIT_IOAPIC_EOI: "KVM_EXIT_IOAPIC_EOI", KVM_EXIT_HYPERV: "KVM_EXIT_HYPERV",
	KVM_EXIT_X86_RDMSR: "KVM_EXIT_X86_RDMSR", KVM_EXIT_X86_WRMSR: "KVM_EXIT_X86_WRMSR",
	KVM_EXIT_DIRTY_RING_FULL: "KVM_EXIT_DIRTY_RING_FULL", KVM_EXIT_AP_RESET_HOLD: "KVM_EXIT_AP_RESET_HOLD",
	KVM_EXIT_X86_BUS_LOCK: "KVM_EXIT_X86_BUS_LOCK", KVM_EXIT_NOTIFY: "KVM_EXIT_NOTIFY",
	KVM_EXIT_MEMORY_FAULT: "KVM_EXIT_MEMORY_FAULT",
}

func (r ExitReason) String() string {
	if n, ok := exitNames[r]; ok {
		return n
	}
	return "KVM_EXIT_" + strconv.Itoa(int(r))
}

// kvm_run.io.direction.
const (
	KVM_EXIT_IO_IN  = 0
	KVM_EXIT_IO_OUT = 1
)

// kvm_run.system_event.type.
const (
	KVM_SYSTEM_EVENT_SHUTDOWN = 1
	KVM_SYSTEM_EVENT_RESET    = 2
	KVM_SYSTEM_EVENT_CRASH    = 3
	KVM_SYSTEM_EVENT_WAKEUP   = 4
	KVM_SYSTEM_EVENT_SUSPEND  = 5
	KVM_SYSTEM_EVENT_SEV_TERM = 6
)

// kvm_run.internal.suberror.
const (
	KVM_INTERNAL_ERROR_EMULATION              = 1
	KVM_INTERNAL_ERROR_SIMUL_EX               = 2
	KVM_INTERNAL_ERROR_DELIVERY_EV            = 3
	KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4
)

// kvm_userspace_memory_region.flags.
const (
	KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
	KVM_MEM_READONLY        = 1 << 1
)

// kvm_irqfd.flags.
const (
	KVM_IRQFD_FLAG_DEASSIGN = 1 << 0
	KVM_IRQFD_FLAG_RESAMPLE = 1 << 1
)

// kvm_ioeventfd.flags (1 << kvm_ioeventfd_flag_nr_*).
const (
	KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0
	KVM_IOEVENTFD_FLAG_PIO       = 1 << 1
	KVM_IOEVENTFD_FLAG_DEASSIGN  = 1 << 2
)

// kvm_pit_config.flags.
const KVM_PIT_SPEAKER_DUMMY = 1

// kvm_cpuid_entry2.flags. (SIGNIFCANT is the kernel's spelling.)
const (
	KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0
	KVM_CPUID_FLAG_STATEFUL_FUNC    = 1 << 1
	KVM_CPUID_FLAG_STATE_READ_NEXT  = 1 << 2
)

// KVM_MAX_CPUID_ENTRIES is the most entries KVM_GET_SUPPORTED_CPUID and
// KVM_SET_CPUID2 accept (arch/x86/include/asm/kvm_host.h).
const KVM_MAX_CPUID_ENTRIES = 256

// kvm_mp_state.mp_state.
const (
	KVM_MP_STATE_RUNNABLE      = 0
	KVM_MP_STATE_UNINITIALIZED = 1
	KVM_MP_STATE_INIT_RECEIVED = 2
	KVM_MP_STATE_HALTED        = 3
	KVM_MP_STATE_SIPI_RECEIVED = 4
)

// UserspaceMemoryRegion is struct kvm_userspace_memory_region: guest
// physical [GuestPhysAddr, GuestPhysAddr+MemorySize) backed by host virtual
// memory at UserspaceAddr.
type UserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// Regs is struct kvm_regs, the general-purpose registers.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// Segment is struct kvm_segment, a segment register's hidden part.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable is struct kvm_dtable, a descriptor-table register (GDTR, IDTR).
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs is struct kvm_sregs, the system registers.
type Sregs struct {
	CS, DS, ES, FS, GS, SS  Segment
	TR, LDT                 Segment
	GDT, IDT                DTable
	CR0, CR2, CR3, CR4, CR8 uint64
	EFER                    uint64
	APICBase                uint64
	InterruptBitmap         [(256 + 63) / 64]uint64
}

// CPUIDEntry2 is struct kvm_cpuid_entry2: the answer to CPUID with EAX =
// Function (and ECX = Index when Flags has KVM_CPUID_FLAG_SIGNIFCANT_INDEX).
type CPUIDEntry2 struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	_        [3]uint32
}

// kvmCpuid2 is struct kvm_cpuid2 with room for the most entries KVM takes.
type kvmCpuid2 struct {
	Nent    uint32
	_       uint32
	Entries [KVM_MAX_CPUID_ENTRIES]CPUIDEntry2
}

// MSREntry is struct kvm_msr_entry, one model-specific register.
type MSREntry struct {
	Index uint32
	_     uint32
	Data  uint64
}

// kvmMsrs is struct kvm_msrs with room for maxMSRs entries.
type kvmMsrs struct {
	Nmsrs   uint32
	_       uint32
	Entries [maxMSRs]MSREntry
}

const maxMSRs = 256

// kvmMsrList is struct kvm_msr_list with room for maxMSRList indices.
type kvmMsrList struct {
	Nmsrs   uint32
	Indices [maxMSRList]uint32
}

const maxMSRList = 1024

// IRQLevel is struct kvm_irq_level (the irq side of its union).
type IRQLevel struct {
	IRQ   uint32
	Level uint32
}

// PITConfig is struct kvm_pit_config.
type PITConfig struct {
	Flags uint32
	_     [15]uint32
}

// IRQFD is struct kvm_irqfd: signalling eventfd Fd raises GSI.
type IRQFD struct {
	Fd         uint32
	GSI        uint32
	Flags      uint32
	ResampleFd uint32
	_          [16]uint8
}

// IOEventFD is struct kvm_ioeventfd: a guest write of Len bytes to Addr
// (an I/O port when Flags has KVM_IOEVENTFD_FLAG_PIO) signals eventfd Fd
// inside KVM, without an exit to userspace.
type IOEventFD struct {
	Datamatch uint64
	Addr      uint64
	Len       uint32
	Fd        int32
	Flags     uint32
	_         [36]uint8
}

// FPU is struct kvm_fpu, the x87/SSE state.
type FPU struct {
	FPR        [8][16]uint8
	FCW        uint16
	FSW        uint16
	FTWX       uint8
	_          uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]uint8
	MXCSR      uint32
	_          uint32
}

// LAPICState is struct kvm_lapic_state, the local APIC's register page.
type LAPICState struct {
	Regs [1024]uint8
}

// MPState is struct kvm_mp_state.
type MPState struct {
	MPState uint32
}

// EnableCap is struct kvm_enable_cap.
type EnableCap struct {
	Cap   uint32
	Flags uint32
	Args  [4]uint64
	_     [64]uint8
}

// kvm_run field offsets (x86-64), for decoding the shared run page without
// a Go mirror of its unions.
const (
	runRequestInterruptWindow = 0
	runImmediateExit          = 1
	runExitReason             = 8
	runReadyForInjection      = 12
	runIfFlag                 = 13
	runCR8                    = 16
	runAPICBase               = 24
	runExit                   = offsetofKvmRunExit // the exit union

	// io
	runIODirection  = runExit + 0
	runIOSize       = runExit + 1
	runIOPort       = runExit + 2
	runIOCount      = runExit + 4
	runIODataOffset = runExit + 8
	// mmio
	runMMIOPhysAddr = runExit + 0
	runMMIOData     = runExit + 8
	runMMIOLen      = runExit + 16
	runMMIOIsWrite  = runExit + 20
	// hw, fail_entry, ex
	runHWExitReason     = runExit + 0
	runFailEntryReason  = runExit + 0
	runFailEntryCPU     = runExit + 8
	runExException      = runExit + 0
	runExErrorCode      = runExit + 4
	runInternalSuberror = runExit + 0
	runInternalNdata    = runExit + 4
	runInternalData     = runExit + 8
	runSystemEventType  = runExit + 0
	runSystemEventNdata = runExit + 4
	runSystemEventData  = runExit + 8
)
