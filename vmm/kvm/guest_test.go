package kvm_test

import (
	"bytes"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/vmm/boot"
	"github.com/hullrt/hull/vmm/kvm"
	"github.com/hullrt/hull/vmm/memory"
)

// newVM opens /dev/kvm and makes a VM with size bytes of RAM at 0 and
// one vCPU, without an in-kernel irqchip so that HLT exits to userspace.
func newVM(t *testing.T, size uint64) (*kvm.VM, *kvm.VCPU, *memory.Guest) {
	t.Helper()
	testvm.Require(t, testvm.KVM)
	sys, err := kvm.Open(kvm.DefaultDevice)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	if err := vm.SetTSSAddr(0xfffbd000); err != nil {
		t.Fatal(err)
	}
	mem, err := memory.New(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	if err := vm.MapMemory(0, 0, mem.Regions()[0].Mem, 0); err != nil {
		t.Fatal(err)
	}
	v, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return vm, v, mem
}

// run enters the guest until it halts, answering each exit with answer
// and recording them all.
func run(t *testing.T, v *kvm.VCPU, answer func(kvm.Exit)) []kvm.Exit {
	t.Helper()
	var exits []kvm.Exit
	for i := 0; i < 100; i++ {
		if err := v.Run(); err != nil {
			t.Fatalf("KVM_RUN: %v", err)
		}
		e, err := v.Exit()
		if err != nil {
			t.Fatal(err)
		}
		switch x := e.(type) {
		case kvm.ExitHLT:
			return append(exits, e)
		case kvm.ExitIO:
			answer(e)
			// Data aliases kvm_run, which the next exit overwrites: keep a copy.
			x.Data = append([]byte(nil), x.Data...)
			exits = append(exits, x)
		case kvm.ExitMMIO:
			answer(e)
			x.Data = append([]byte(nil), x.Data...)
			exits = append(exits, x)
		default:
			regs, _ := v.Regs()
			t.Fatalf("unexpected exit %#v at RIP %#x", e, regs.RIP)
		}
	}
	t.Fatal("the guest did not halt after 100 exits")
	return nil
}

// A 16-bit real-mode guest: OUT and IN on the COM1 port, an MMIO write and
// read in a hole of guest memory, results stored to RAM, HLT.
func TestRealModeGuest(t *testing.T) {
	// Three pages of RAM; 0x3000 is unbacked, so accesses there exit as MMIO.
	_, v, mem := newVM(t, 0x3000)
	code := []byte{
		0xba, 0xf8, 0x03, // mov dx, 0x3f8
		0xb0, 'H', // mov al, 'H'
		0xee,             // out dx, al
		0xec,             // in al, dx
		0xa2, 0x00, 0x20, // mov [0x2000], al
		0xc6, 0x06, 0x00, 0x30, 0x7f, // mov byte [0x3000], 0x7f
		0xa0, 0x04, 0x30, // mov al, [0x3004]
		0xa2, 0x01, 0x20, // mov [0x2001], al
		0xf4, // hlt
	}
	if err := mem.Write(0x1000, code); err != nil {
		t.Fatal(err)
	}
	s, err := v.Sregs()
	if err != nil {
		t.Fatal(err)
	}
	s.CS.Base, s.CS.Selector = 0, 0
	s.DS.Base, s.DS.Selector = 0, 0
	if err := v.SetSregs(s); err != nil {
		t.Fatal(err)
	}
	if err := v.SetRegs(kvm.Regs{RIP: 0x1000, RFLAGS: 2}); err != nil {
		t.Fatal(err)
	}
	exits := run(t, v, func(e kvm.Exit) {
		switch e := e.(type) {
		case kvm.ExitIO:
			if !e.Out {
				e.Data[0] = 0x5a
			}
		case kvm.ExitMMIO:
			if !e.Write {
				e.Data[0] = 0x42
			}
		}
	})
	want := []string{
		"KVM_EXIT_IO out port 0x3f8 size 1 count 1",
		"KVM_EXIT_IO in port 0x3f8 size 1 count 1",
		"KVM_EXIT_MMIO write 0x3000 len 1",
		"KVM_EXIT_MMIO read 0x3004 len 1",
	}
	for i, w := range want {
		if i >= len(exits) || exits[i].(interface{ String() string }).String() != w {
			t.Fatalf("exit %d = %v, want %s (all: %v)", i, exits, w, exits)
		}
	}
	if got := exits[0].(kvm.ExitIO).Data; !bytes.Equal(got, []byte{'H'}) {
		t.Errorf("OUT data = %q, want H", got)
	}
	if got := exits[2].(kvm.ExitMMIO).Data; !bytes.Equal(got, []byte{0x7f}) {
		t.Errorf("MMIO write data = % x, want 7f", got)
	}
	got := make([]byte, 2)
	mem.Read(0x2000, got)
	if !bytes.Equal(got, []byte{0x5a, 0x42}) {
		t.Errorf("the guest stored % x, want 5a 42 (the IN and MMIO answers)", got)
	}
}

// A 64-bit guest entered the way hull enters Linux: boot's page tables,
// GDT and long-mode system registers. It writes a port, then a 32-bit
// value to 0xd0000000 (an MMIO window above RAM), then halts.
func TestLongModeGuest(t *testing.T) {
	_, v, mem := newVM(t, 2<<20)
	for addr, page := range boot.PageTables() {
		if err := mem.Write(addr, page); err != nil {
			t.Fatal(err)
		}
	}
	if err := mem.Write(boot.GDTAddr, boot.GDT()); err != nil {
		t.Fatal(err)
	}
	code := []byte{
		0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
		0xb0, 'L', // mov al, 'L'
		0xee,                         // out dx, al
		0xb8, 0x00, 0x00, 0x00, 0xd0, // mov eax, 0xd0000000
		0xc7, 0x00, 0xef, 0xbe, 0xad, 0xde, // mov dword [rax], 0xdeadbeef
		0xf4, // hlt
	}
	if err := mem.Write(0x100000, code); err != nil {
		t.Fatal(err)
	}
	s, err := v.Sregs()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetSregs(boot.LongModeSregs(s)); err != nil {
		t.Fatal(err)
	}
	if err := v.SetRegs(kvm.Regs{RIP: 0x100000, RSP: boot.StackTop, RFLAGS: 2}); err != nil {
		t.Fatal(err)
	}
	exits := run(t, v, func(kvm.Exit) {})
	if len(exits) != 3 {
		t.Fatalf("exits = %v, want OUT, MMIO write, HLT", exits)
	}
	if e := exits[0].(kvm.ExitIO); e.Port != 0x3f8 || e.Data[0] != 'L' {
		t.Errorf("first exit = %v %q", e, e.Data)
	}
	if e := exits[1].(kvm.ExitMMIO); e.Addr != 0xd0000000 || !e.Write || !bytes.Equal(e.Data, []byte{0xef, 0xbe, 0xad, 0xde}) {
		t.Errorf("second exit = %v % x", e, e.Data)
	}
	s, _ = v.Sregs()
	if s.EFER&boot.EFER_LMA == 0 {
		t.Errorf("EFER = %#x: long mode is not active", s.EFER)
	}
}

func TestSupportedCPUID(t *testing.T) {
	testvm.Require(t, testvm.KVM)
	sys, err := kvm.Open(kvm.DefaultDevice)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	entries, err := sys.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	var leaf0 *kvm.CPUIDEntry2
	for i := range entries {
		if entries[i].Function == 0 {
			leaf0 = &entries[i]
		}
	}
	if leaf0 == nil || leaf0.EAX == 0 {
		t.Fatalf("KVM_GET_SUPPORTED_CPUID has no leaf 0 (%d entries)", len(entries))
	}
	msrs, err := sys.MSRIndexList()
	if err != nil || len(msrs) == 0 {
		t.Errorf("MSRIndexList = %d MSRs, %v", len(msrs), err)
	}
}
