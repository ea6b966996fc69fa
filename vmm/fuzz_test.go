package vmm

import (
	"io"
	"testing"

	"github.com/hullrt/hull/vmm/acpi"
	"github.com/hullrt/hull/vmm/devices"
	"github.com/hullrt/hull/vmm/kvm"
	"github.com/hullrt/hull/vmm/memory"
	"github.com/hullrt/hull/vmm/virtio"
)

// FuzzHandleExit feeds arbitrary port and MMIO accesses, as a hostile
// guest can make, through the exit dispatch to hull's whole device set:
// nothing may panic, and only the power registers may end the run.
func FuzzHandleExit(f *testing.F) {
	f.Add(uint16(0x3f8), uint8(1), true, uint32(1), []byte("A"), uint64(0xd0000070), false)
	f.Add(uint16(0x600), uint8(1), true, uint32(1), []byte{0x34}, uint64(0xd0000050), true)
	f.Add(uint16(0x64), uint8(1), true, uint32(1), []byte{0xfe}, uint64(0xd00000fc), false)
	f.Add(uint16(0x3fb), uint8(4), false, uint32(3), []byte{}, uint64(0xd0000ffd), true)
	f.Fuzz(func(t *testing.T, port uint16, size uint8, out bool, count uint32, data []byte, addr uint64, write bool) {
		var pio, mmio devices.Bus
		ended := 0
		notify := func(devices.Event) { ended++ }
		pio.Insert(devices.COM1Port, 8, "serial", devices.NewSerial(io.Discard, func() {}))
		pio.Insert(devices.I8042DataPort, 5, "i8042", &devices.I8042{Notify: notify})
		pio.Insert(acpi.SleepControlPort, 1, "sleep", &devices.SleepControl{S5Type: acpi.S5SleepType, Notify: notify})
		pio.Insert(acpi.ResetPort, 1, "reset", &devices.ResetRegister{Value: acpi.ResetValue, Notify: notify})
		mem := memory.FromRegions(memory.Region{Mem: make([]byte, 0x10000)})
		mmio.Insert(virtioMMIOBase, virtioMMIOSize, "rng", virtio.NewMMIO(virtio.RNG{}, mem, func() {}))

		// An IO exit as DecodeExit would produce it: size 1, 2 or 4, data
		// of size*count bytes (bounded like the kvm_run page).
		size = []uint8{1, 2, 4}[size%3]
		count = count%64 + 1
		buf := make([]byte, int(size)*int(count))
		copy(buf, data)
		if r := handleExit(kvm.ExitIO{Port: port, Size: size, Out: out, Count: count, Data: buf}, &pio, &mmio); r != nil {
			t.Fatalf("an IO exit ended the run: %+v", r)
		}
		mlen := len(data)%8 + 1
		mbuf := make([]byte, mlen)
		copy(mbuf, data)
		if r := handleExit(kvm.ExitMMIO{Addr: addr, Write: write, Data: mbuf}, &pio, &mmio); r != nil {
			t.Fatalf("an MMIO exit ended the run: %+v", r)
		}
		if ended > 0 && !(out && (port == acpi.SleepControlPort || port == acpi.ResetPort || port == devices.I8042CommandPort || port == devices.I8042DataPort)) {
			t.Fatalf("a power event from port %#x", port)
		}
	})
}
