package cpuid

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Model-specific registers that say whether firmware allows
// virtualization, named as in the kernel's arch/x86/include/asm/msr-index.h.
const (
	// MSR_IA32_FEAT_CTL (Intel SDM vol. 4 table 2-2).
	MSR_IA32_FEAT_CTL                     = 0x3a
	FEAT_CTL_LOCKED                       = 1 << 0
	FEAT_CTL_VMX_ENABLED_INSIDE_SMX       = 1 << 1
	FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX      = 1 << 2
	MSR_IA32_VMX_PROCBASED_CTLS           = 0x482 // high half: allowed-1 settings
	MSR_IA32_VMX_PROCBASED_CTLS2          = 0x48b // high half: allowed-1 settings
	CPU_BASED_ACTIVATE_SECONDARY_CONTROLS = 1 << 31
	SECONDARY_EXEC_ENABLE_EPT             = 1 << 1

	// MSR_VM_CR (AMD APM vol. 2 §15.30.1).
	MSR_VM_CR               = 0xc0010114
	SVM_VM_CR_SVM_LOCK_MASK = 1 << 3
	SVM_VM_CR_SVM_DIS_MASK  = 1 << 4 // SVMDIS: EFER.SVME cannot be set
)

// MSRReader reads a model-specific register of one CPU.
type MSRReader func(cpu int, msr uint32) (uint64, error)

// ReadMSR reads an MSR through the msr driver: an 8-byte pread(2) of
// /dev/cpu/N/msr at offset msr. It needs CAP_SYS_RAWIO and the msr module
// ("modprobe msr"); without them the error says which is missing.
func ReadMSR(cpu int, msr uint32) (uint64, error) {
	name := "/dev/cpu/" + strconv.Itoa(cpu) + "/msr"
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b [8]byte
	if _, err := f.ReadAt(b[:], int64(msr)); err != nil {
		return 0, fmt.Errorf("rdmsr %#x on cpu %d: %w", msr, cpu, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// MSRRecording is a set of MSR values recorded from CPU 0 of one machine,
// or the error that reading them gave (Err, e.g. "open /dev/cpu/0/msr: no
// such file or directory").
type MSRRecording struct {
	Values map[string]uint64 `json:"values,omitempty"` // "0x3a" → value
	Err    string            `json:"error,omitempty"`
	Errno  string            `json:"errno,omitempty"` // Err's errno, "ENOENT"
}

// RecordedMSRs are the registers RecordMSRs captures.
var RecordedMSRs = []uint32{MSR_IA32_FEAT_CTL, MSR_IA32_VMX_PROCBASED_CTLS, MSR_IA32_VMX_PROCBASED_CTLS2, MSR_VM_CR}

// RecordMSRs reads RecordedMSRs of CPU 0 through read. Registers the CPU
// does not implement (EIO from the msr driver) are left out.
func RecordMSRs(read MSRReader) MSRRecording {
	rec := MSRRecording{Values: map[string]uint64{}}
	for _, m := range RecordedMSRs {
		v, err := read(0, m)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				rec := MSRRecording{Err: err.Error()}
				var errno syscall.Errno
				if errors.As(err, &errno) {
					rec.Errno = unix.ErrnoName(errno)
				}
				return rec
			}
			continue
		}
		rec.Values[fmt.Sprintf("%#x", m)] = v
	}
	return rec
}

// errNotRecorded stands for a register the recording lacks, as the msr
// driver's EIO stands for one the CPU lacks.
var errNotRecorded = errors.New("input/output error (not recorded)")

// Reader replays the recording.
func (r MSRRecording) Reader() MSRReader {
	return func(cpu int, msr uint32) (uint64, error) {
		if r.Err != "" {
			// RecordMSRs keeps only open(2) failures of the device.
			if errno := errnoByName(r.Errno); errno != 0 {
				return 0, &os.PathError{Op: "open", Path: "/dev/cpu/0/msr", Err: errno}
			}
			return 0, errors.New(r.Err)
		}
		v, ok := r.Values[fmt.Sprintf("%#x", msr)]
		if !ok {
			return 0, fmt.Errorf("rdmsr %#x on cpu %d: %w", msr, cpu, errNotRecorded)
		}
		return v, nil
	}
}

// errnoByName is the errno unix.ErrnoName calls name, or 0.
func errnoByName(name string) syscall.Errno {
	for e := syscall.Errno(1); e < 4096 && name != ""; e++ {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	return 0
}
