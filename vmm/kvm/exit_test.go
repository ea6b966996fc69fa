package kvm

import (
	"reflect"
	"strings"
	"testing"
)

// runPage builds a kvm_run area as KVM would leave it after an exit.
func runPage(reason ExitReason, fill func(p []byte)) []byte {
	p := make([]byte, 4096+64)
	le.PutUint32(p[runExitReason:], uint32(reason))
	if fill != nil {
		fill(p)
	}
	return p
}

func TestDecodeExit(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  []byte
		want Exit
	}{
		{"out byte to COM1", runPage(KVM_EXIT_IO, func(p []byte) {
			p[runIODirection] = KVM_EXIT_IO_OUT
			p[runIOSize] = 1
			le.PutUint16(p[runIOPort:], 0x3f8)
			le.PutUint32(p[runIOCount:], 1)
			le.PutUint64(p[runIODataOffset:], 4096)
			p[4096] = 'A'
		}), ExitIO{Port: 0x3f8, Size: 1, Out: true, Count: 1, Data: []byte{'A'}}},
		{"rep insw", runPage(KVM_EXIT_IO, func(p []byte) {
			p[runIODirection] = KVM_EXIT_IO_IN
			p[runIOSize] = 2
			le.PutUint16(p[runIOPort:], 0x1f0)
			le.PutUint32(p[runIOCount:], 3)
			le.PutUint64(p[runIODataOffset:], 4096)
		}), ExitIO{Port: 0x1f0, Size: 2, Count: 3, Data: make([]byte, 6)}},
		{"mmio write", runPage(KVM_EXIT_MMIO, func(p []byte) {
			le.PutUint64(p[runMMIOPhysAddr:], 0xd0000050)
			le.PutUint32(p[runMMIOData:], 7)
			le.PutUint32(p[runMMIOLen:], 4)
			p[runMMIOIsWrite] = 1
		}), ExitMMIO{Addr: 0xd0000050, Write: true, Data: []byte{7, 0, 0, 0}}},
		{"hlt", runPage(KVM_EXIT_HLT, nil), ExitHLT{}},
		{"triple fault", runPage(KVM_EXIT_SHUTDOWN, nil), ExitShutdown{}},
		{"system event reset", runPage(KVM_EXIT_SYSTEM_EVENT, func(p []byte) {
			le.PutUint32(p[runSystemEventType:], KVM_SYSTEM_EVENT_RESET)
			le.PutUint32(p[runSystemEventNdata:], 1)
			le.PutUint64(p[runSystemEventData:], 42)
		}), ExitSystemEvent{Type: KVM_SYSTEM_EVENT_RESET, Data: []uint64{42}}},
		{"internal error, ndata clamped to 16", runPage(KVM_EXIT_INTERNAL_ERROR, func(p []byte) {
			le.PutUint32(p[runInternalSuberror:], KVM_INTERNAL_ERROR_EMULATION)
			le.PutUint32(p[runInternalNdata:], 1000)
		}), ExitInternalError{Suberror: KVM_INTERNAL_ERROR_EMULATION, Data: make([]uint64, 16)}},
		{"fail entry", runPage(KVM_EXIT_FAIL_ENTRY, func(p []byte) {
			le.PutUint64(p[runFailEntryReason:], 0x80000021)
			le.PutUint32(p[runFailEntryCPU:], 1)
		}), ExitFailEntry{HardwareReason: 0x80000021, CPU: 1}},
		{"unknown", runPage(KVM_EXIT_UNKNOWN, func(p []byte) { le.PutUint64(p[runHWExitReason:], 9) }), ExitUnknown{HardwareReason: 9}},
		{"not decoded further", runPage(KVM_EXIT_IRQ_WINDOW_OPEN, nil), ExitOther{R: KVM_EXIT_IRQ_WINDOW_OPEN}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeExit(tt.run)
			if err != nil {
				t.Fatalf("DecodeExit: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeExit = %#v, want %#v", got, tt.want)
			}
			if got.Reason() != tt.want.Reason() {
				t.Errorf("Reason() = %v, want %v", got.Reason(), tt.want.Reason())
			}
		})
	}
}

// An IN's data slice aliases the run area: filling it answers the guest.
func TestDecodeExitIOAliasesRunArea(t *testing.T) {
	p := runPage(KVM_EXIT_IO, func(p []byte) {
		p[runIOSize] = 1
		le.PutUint32(p[runIOCount:], 1)
		le.PutUint64(p[runIODataOffset:], 4096)
	})
	e, err := DecodeExit(p)
	if err != nil {
		t.Fatal(err)
	}
	e.(ExitIO).Data[0] = 0x5a
	if p[4096] != 0x5a {
		t.Errorf("writing ExitIO.Data did not reach kvm_run")
	}
}

func TestDecodeExitRejectsCorruptArea(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  []byte
		want string
	}{
		{"short area", make([]byte, 100), "kvm_run area is 100 bytes"},
		{"io data past the end", runPage(KVM_EXIT_IO, func(p []byte) {
			p[runIOSize] = 4
			le.PutUint32(p[runIOCount:], 100)
			le.PutUint64(p[runIODataOffset:], 4096)
		}), "outside the"},
		{"io offset overflow", runPage(KVM_EXIT_IO, func(p []byte) {
			p[runIOSize] = 1
			le.PutUint32(p[runIOCount:], 1)
			le.PutUint64(p[runIODataOffset:], ^uint64(0))
		}), "outside the"},
		{"io size 3", runPage(KVM_EXIT_IO, func(p []byte) { p[runIOSize] = 3 }), "access size 3"},
		{"mmio len 9", runPage(KVM_EXIT_MMIO, func(p []byte) { le.PutUint32(p[runMMIOLen:], 9) }), "length 9"},
		{"mmio len 0", runPage(KVM_EXIT_MMIO, nil), "length 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeExit(tt.run)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeExit error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
