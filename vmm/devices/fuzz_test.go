package devices

import (
	"io"
	"testing"
)

// FuzzSerialRegisters drives the UART with arbitrary register accesses, as
// a hostile guest may: any offset, any size, any value. It must never
// panic, and the receive queue must stay bounded.
func FuzzSerialRegisters(f *testing.F) {
	f.Add([]byte{0x03, 0x80, 0x00, 0x01, 0x01, 0x00, 0x03, 0x03, 0x00, 'A'})
	f.Add([]byte{0x04, 0x10, 0x00, 'x', 0x80, 0x00, 0x81, 0x02})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, ops []byte) {
		s := NewSerial(io.Discard, func() {})
		var bus Bus
		if err := bus.Insert(COM1Port, 8, "serial", s); err != nil {
			t.Fatal(err)
		}
		for len(ops) >= 2 {
			op, v := ops[0], ops[1]
			ops = ops[2:]
			addr := COM1Port + uint64(op&0x0f) - 4 // also just outside the window
			size := 1 << (op >> 4 & 3)
			data := make([]byte, size)
			for i := range data {
				data[i] = v
			}
			if op&0x80 != 0 {
				bus.Read(addr, data)
			} else {
				bus.Write(addr, data)
			}
			if op&0x40 != 0 {
				s.Input([]byte{v, v})
			}
		}
		if len(s.rx) > rxLimit {
			t.Fatalf("receive queue grew to %d bytes", len(s.rx))
		}
	})
}
