package kvm

import (
	"encoding/binary"
	"fmt"
)

// Exit is a decoded KVM_RUN exit: one of the Exit* types below. Decoding
// happens once, at the boundary, so that the rest of the VMM dispatches on
// Go types and tests can drive it with exits built by hand.
type Exit interface {
	Reason() ExitReason
}

// ExitIO is KVM_EXIT_IO: the guest executed IN or OUT (or INS/OUTS) on
// Port. Data holds Count items of Size bytes each; for OUT it is what the
// guest wrote, for IN the VMM fills it before the next KVM_RUN.
type ExitIO struct {
	Port  uint16
	Size  uint8 // 1, 2 or 4
	Out   bool
	Count uint32
	Data  []byte
}

// ExitMMIO is KVM_EXIT_MMIO: the guest accessed Addr, which no memory slot
// backs. Data is Len bytes (1..8): what the guest wrote, or the buffer to
// fill for a read.
type ExitMMIO struct {
	Addr  uint64
	Write bool
	Data  []byte
}

// ExitHLT is KVM_EXIT_HLT: the guest halted with no in-kernel local APIC to
// wait on (only without KVM_CREATE_IRQCHIP).
type ExitHLT struct{}

// ExitShutdown is KVM_EXIT_SHUTDOWN: on x86 a triple fault, which a real
// machine answers with a reset.
type ExitShutdown struct{}

// ExitSystemEvent is KVM_EXIT_SYSTEM_EVENT (KVM_SYSTEM_EVENT_*).
type ExitSystemEvent struct {
	Type uint32
	Data []uint64
}

// ExitFailEntry is KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the
// guest (invalid guest state).
type ExitFailEntry struct {
	HardwareReason uint64
	CPU            uint32
}

// ExitInternalError is KVM_EXIT_INTERNAL_ERROR: KVM could not emulate an
// instruction or deliver an event (KVM_INTERNAL_ERROR_*).
type ExitInternalError struct {
	Suberror uint32
	Data     []uint64
}

// ExitUnknown is KVM_EXIT_UNKNOWN with the hardware's own exit reason.
type ExitUnknown struct {
	HardwareReason uint64
}

// ExitException is KVM_EXIT_EXCEPTION.
type ExitException struct {
	Exception uint32
	ErrorCode uint32
}

// ExitOther is any exit hull does not decode further.
type ExitOther struct {
	R ExitReason
}

func (ExitIO) Reason() ExitReason            { return KVM_EXIT_IO }
func (ExitMMIO) Reason() ExitReason          { return KVM_EXIT_MMIO }
func (ExitHLT) Reason() ExitReason           { return KVM_EXIT_HLT }
func (ExitShutdown) Reason() ExitReason      { return KVM_EXIT_SHUTDOWN }
func (ExitSystemEvent) Reason() ExitReason   { return KVM_EXIT_SYSTEM_EVENT }
func (ExitFailEntry) Reason() ExitReason     { return KVM_EXIT_FAIL_ENTRY }
func (ExitInternalError) Reason() ExitReason { return KVM_EXIT_INTERNAL_ERROR }
func (ExitUnknown) Reason() ExitReason       { return KVM_EXIT_UNKNOWN }
func (ExitException) Reason() ExitReason     { return KVM_EXIT_EXCEPTION }
func (e ExitOther) Reason() ExitReason       { return e.R }

func (e ExitIO) String() string {
	dir := "in"
	if e.Out {
		dir = "out"
	}
	return fmt.Sprintf("KVM_EXIT_IO %s port %#x size %d count %d", dir, e.Port, e.Size, e.Count)
}

func (e ExitMMIO) String() string {
	dir := "read"
	if e.Write {
		dir = "write"
	}
	return fmt.Sprintf("KVM_EXIT_MMIO %s %#x len %d", dir, e.Addr, len(e.Data))
}

var le = binary.LittleEndian

// DecodeExit decodes a kvm_run area after KVM_RUN returned. Every length
// and offset the area carries is checked against its size, so a corrupt
// area yields an error, never a panic or a slice outside it.
func DecodeExit(run []byte) (Exit, error) {
	if len(run) < sizeofKvmRun {
		return nil, fmt.Errorf("kvm_run area is %d bytes, want at least %d", len(run), sizeofKvmRun)
	}
	reason := ExitReason(le.Uint32(run[runExitReason:]))
	switch reason {
	case KVM_EXIT_IO:
		e := ExitIO{
			Out:   run[runIODirection] == KVM_EXIT_IO_OUT,
			Size:  run[runIOSize],
			Port:  le.Uint16(run[runIOPort:]),
			Count: le.Uint32(run[runIOCount:]),
		}
		if e.Size != 1 && e.Size != 2 && e.Size != 4 {
			return nil, fmt.Errorf("KVM_EXIT_IO port %#x: access size %d", e.Port, e.Size)
		}
		off := le.Uint64(run[runIODataOffset:])
		n := uint64(e.Size) * uint64(e.Count)
		if off > uint64(len(run)) || n > uint64(len(run))-off {
			return nil, fmt.Errorf("KVM_EXIT_IO port %#x: data [%#x, +%d) outside the %d-byte kvm_run area", e.Port, off, n, len(run))
		}
		e.Data = run[off : off+n : off+n]
		return e, nil
	case KVM_EXIT_MMIO:
		n := le.Uint32(run[runMMIOLen:])
		if n == 0 || n > 8 {
			return nil, fmt.Errorf("KVM_EXIT_MMIO at %#x: length %d", le.Uint64(run[runMMIOPhysAddr:]), n)
		}
		return ExitMMIO{
			Addr:  le.Uint64(run[runMMIOPhysAddr:]),
			Write: run[runMMIOIsWrite] != 0,
			Data:  run[runMMIOData : runMMIOData+int(n) : runMMIOData+int(n)],
		}, nil
	case KVM_EXIT_HLT:
		return ExitHLT{}, nil
	case KVM_EXIT_SHUTDOWN:
		return ExitShutdown{}, nil
	case KVM_EXIT_SYSTEM_EVENT:
		return ExitSystemEvent{
			Type: le.Uint32(run[runSystemEventType:]),
			Data: u64s(run[runSystemEventData:], le.Uint32(run[runSystemEventNdata:])),
		}, nil
	case KVM_EXIT_FAIL_ENTRY:
		return ExitFailEntry{
			HardwareReason: le.Uint64(run[runFailEntryReason:]),
			CPU:            le.Uint32(run[runFailEntryCPU:]),
		}, nil
	case KVM_EXIT_INTERNAL_ERROR:
		return ExitInternalError{
			Suberror: le.Uint32(run[runInternalSuberror:]),
			Data:     u64s(run[runInternalData:], le.Uint32(run[runInternalNdata:])),
		}, nil
	case KVM_EXIT_UNKNOWN:
		return ExitUnknown{HardwareReason: le.Uint64(run[runHWExitReason:])}, nil
	case KVM_EXIT_EXCEPTION:
		return ExitException{Exception: le.Uint32(run[runExException:]), ErrorCode: le.Uint32(run[runExErrorCode:])}, nil
	default:
		return ExitOther{R: reason}, nil
	}
}

// u64s reads up to n little-endian words (at most 16, the size of the
// kernel's data arrays) from b.
func u64s(b []byte, n uint32) []uint64 {
	n = min(n, 16, uint32(len(b)/8))
	out := make([]uint64, n)
	for i := range out {
		out[i] = le.Uint64(b[8*i:])
	}
	return out
}
