package vmm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/vmm/acpi"
	"github.com/hullrt/hull/vmm/devices"
	"github.com/hullrt/hull/vmm/kvm"
)

// The bus dispatch driven by synthetic exits, as KVM_RUN would report
// them: port output reaches the UART, a REP OUTSB arrives as several
// items, port input answers from the device, unknown ports read all ones,
// and the power registers end the run with the guest's intent.
func TestHandleExit(t *testing.T) {
	var out bytes.Buffer
	var pio, mmio devices.Bus
	serial := devices.NewSerial(&out, nil)
	var ended []devices.Event
	notify := func(e devices.Event) { ended = append(ended, e) }
	pio.Insert(devices.COM1Port, 8, "serial", serial)
	pio.Insert(acpi.SleepControlPort, 1, "sleep", &devices.SleepControl{S5Type: acpi.S5SleepType, Notify: notify})

	if r := handleExit(kvm.ExitIO{Port: 0x3f8, Size: 1, Out: true, Count: 3, Data: []byte("abc")}, &pio, &mmio); r != nil {
		t.Fatalf("OUTSB ended the run: %+v", r)
	}
	if out.String() != "abc" {
		t.Errorf("UART output = %q, want abc", out.String())
	}
	lsr := []byte{0}
	handleExit(kvm.ExitIO{Port: 0x3fd, Size: 1, Count: 1, Data: lsr}, &pio, &mmio)
	if lsr[0] != devices.UART_LSR_THRE|devices.UART_LSR_TEMT {
		t.Errorf("IN from LSR = %#x", lsr[0])
	}
	nothing := []byte{0, 0}
	handleExit(kvm.ExitIO{Port: 0x2f8, Size: 2, Count: 1, Data: nothing}, &pio, &mmio)
	if !bytes.Equal(nothing, []byte{0xff, 0xff}) {
		t.Errorf("IN from an empty port = % x, want ff ff", nothing)
	}
	mm := []byte{0, 0, 0, 0}
	if r := handleExit(kvm.ExitMMIO{Addr: 0xd0000000, Data: mm}, &pio, &mmio); r != nil || !bytes.Equal(mm, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("MMIO read of nothing = % x (%v)", mm, r)
	}
	handleExit(kvm.ExitIO{Port: acpi.SleepControlPort, Size: 1, Out: true, Count: 1, Data: []byte{acpi.S5SleepType<<2 | devices.SLP_EN}}, &pio, &mmio)
	if len(ended) != 1 || ended[0] != devices.PowerOff {
		t.Errorf("S5 write gave events %v, want power off", ended)
	}

	for _, tt := range []struct {
		exit   kvm.Exit
		reason Reason
		detail string
	}{
		{kvm.ExitShutdown{}, Crashed, "triple fault"},
		{kvm.ExitHLT{}, Crashed, "halted"},
		{kvm.ExitSystemEvent{Type: kvm.KVM_SYSTEM_EVENT_SHUTDOWN}, PowerOff, "SHUTDOWN"},
		{kvm.ExitSystemEvent{Type: kvm.KVM_SYSTEM_EVENT_RESET}, Reboot, "RESET"},
		{kvm.ExitInternalError{Suberror: kvm.KVM_INTERNAL_ERROR_EMULATION}, Crashed, "emulation failed"},
		{kvm.ExitFailEntry{HardwareReason: 0x21}, Crashed, "0x21"},
		{kvm.ExitOther{R: kvm.KVM_EXIT_HYPERCALL}, Crashed, "unhandled exit KVM_EXIT_HYPERCALL"},
	} {
		r := handleExit(tt.exit, &pio, &mmio)
		if r == nil || r.Reason != tt.reason || !strings.Contains(r.Detail, tt.detail) {
			t.Errorf("handleExit(%#v) = %+v, want %v mentioning %q", tt.exit, r, tt.reason, tt.detail)
		}
	}
	if r := handleExit(kvm.ExitOther{R: kvm.KVM_EXIT_INTR}, &pio, &mmio); r != nil {
		t.Errorf("KVM_EXIT_INTR ended the run: %+v", r)
	}
}

func TestResultErr(t *testing.T) {
	if err := (Result{PowerOff, "S5"}).Err(); err != nil {
		t.Errorf("power-off Err() = %v", err)
	}
	if err := (Result{Crashed, "KVM_EXIT_SHUTDOWN: triple fault"}).Err(); err == nil || !strings.Contains(err.Error(), "guest crashed: KVM_EXIT_SHUTDOWN") {
		t.Errorf("crash Err() = %v", err)
	}
}

func TestGuestCPUID(t *testing.T) {
	supported := []kvm.CPUIDEntry2{
		{Function: 0, EAX: 0x1f},
		{Function: 1, EBX: 0x00020800, ECX: 0x1, EDX: 0x1},
		{Function: 4, Index: 0, EAX: 1<<5 | 1},
		{Function: 4, Index: 3, EAX: 3<<5 | 3},
		{Function: 0xb, Index: 0, EDX: 7},
		{Function: 0xb, Index: 1, EDX: 7},
		{Function: 0x1f, Index: 0},
		{Function: 0x80000008, ECX: 0x3007},
		{Function: 0x8000001e, EAX: 9},
	}
	got := GuestCPUID(supported, 3, 4)
	find := func(fn, idx uint32) *kvm.CPUIDEntry2 {
		for i := range got {
			if got[i].Function == fn && got[i].Index == idx {
				return &got[i]
			}
		}
		return nil
	}
	l1 := find(1, 0)
	if l1.ECX&cpuidHypervisor == 0 || l1.EBX>>24 != 3 || l1.EBX>>16&0xff != 4 || l1.EDX&cpuidHTT == 0 {
		t.Errorf("leaf 1 = %+v: want hypervisor bit, APIC ID 3, 4 logical CPUs, HTT", *l1)
	}
	if e := find(0xb, 1); e == nil || e.EBX != 4 || e.EAX != 2 || e.EDX != 3 || e.ECX>>8 != topologyLevelCore {
		t.Errorf("leaf 0xb.1 = %+v: want 4 cores, shift 2, x2APIC ID 3", e)
	}
	if e := find(0xb, 0); e == nil || e.EBX != 1 || e.EDX != 3 {
		t.Errorf("leaf 0xb.0 = %+v: want 1 thread per core, x2APIC ID 3", e)
	}
	if find(0x1f, 0) != nil {
		t.Error("leaf 0x1f kept; its topology would disagree")
	}
	if e := find(4, 0); e.EAX>>26 != 3 || e.EAX>>14&0xfff != 0 {
		t.Errorf("leaf 4.0 (L1) = %#x: want 4 cores, not shared", e.EAX)
	}
	if e := find(4, 3); e.EAX>>14&0xfff != 3 {
		t.Errorf("leaf 4.3 (L3) = %#x: want shared by 4", e.EAX)
	}
	if e := find(0x80000008, 0); e.ECX&0xff != 3 || e.ECX>>12&0xf != 2 {
		t.Errorf("leaf 0x80000008 ECX = %#x: want NC=3, ApicIdCoreIdSize=2", e.ECX)
	}
	if e := find(0x8000001e, 0); e.EAX != 3 {
		t.Errorf("leaf 0x8000001e EAX = %d, want extended APIC ID 3", e.EAX)
	}
}

func TestConfigValidate(t *testing.T) {
	c, err := ParseConfig(strings.NewReader(`{"kernel":"/k","cpus":2,"memory_mib":256,"disks":[{"path":"/d","read_only":true}]}`))
	if err != nil || c.CPUs != 2 || !c.Disks[0].ReadOnly {
		t.Fatalf("ParseConfig = %+v, %v", c, err)
	}
	if _, err := ParseConfig(strings.NewReader(`{"kernel":"/k","vcpus":2}`)); err == nil || !strings.Contains(err.Error(), "vcpus") {
		t.Errorf("unknown field: %v", err)
	}
	err = Config{Name: "bad name", CPUs: 300, MemoryMiB: 1, Disks: []Disk{{}}}.Validate()
	for _, want := range []string{"name:", "kernel: required", "cpus: 300", "memory_mib: 1", "disks[0].path: required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to report %q", err, want)
		}
	}
}

// A VM's name becomes a directory under hull's state root.
func TestConfigName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"web-1", true}, {"a", true}, {"A.b_c-9", true}, {strings.Repeat("x", 64), true},
		{"", true}, // no name: a foreground VM needs none
		{strings.Repeat("x", 65), false}, {"-lead", false}, {".hidden", false}, {"_x", false},
		{"a/b", false}, {"..", false}, {"sp ace", false}, {"é", false}, {"a\x00", false},
	} {
		err := Config{Name: tt.name, Kernel: "/k"}.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("Config{Name: %q}.Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestStatusKiB(t *testing.T) {
	status := []byte("Name:\thull\nVmRSS:\t   12345 kB\nRssAnon:\t 100 kB\nThreads:\t9\n")
	for _, tt := range []struct {
		name string
		want uint64
		ok   bool
	}{
		{"VmRSS", 12345 << 10, true}, {"RssAnon", 100 << 10, true}, {"Threads", 0, false}, {"VmSwap", 0, false},
	} {
		got, err := statusKiB(status, tt.name)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("statusKiB(%q) = %d, %v; want %d (ok %v)", tt.name, got, err, tt.want, tt.ok)
		}
	}
}

// A mapped file truncated under hull faults; faultAsError makes that an
// error, not a crash.
func TestMapFileTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kernel")
	if err := os.WriteFile(path, bytes.Repeat([]byte{1}, 3*4096), 0o644); err != nil {
		t.Fatal(err)
	}
	b, unmap, err := mapFile(path)
	if err != nil || len(b) != 3*4096 {
		t.Fatalf("mapFile = %d bytes, %v", len(b), err)
	}
	defer unmap()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	var got byte
	err = faultAsError(func() error { got = b[2*4096]; return nil })
	if err == nil || !strings.Contains(err.Error(), "changed while hull read it") {
		t.Errorf("reading a truncated mapping: %v (read %d), want the fault as an error", err, got)
	}
	if b, _, err := mapFile(filepath.Join(t.TempDir())); err == nil || b != nil {
		t.Errorf("mapFile(directory) = %v, want an error", err)
	}
}
