package devices

import (
	"bytes"
	"strings"
	"testing"
)

// recorder is a device that records the offsets it is handed.
type recorder struct{ reads, writes []uint64 }

func (r *recorder) Read(off uint64, data []byte) {
	r.reads = append(r.reads, off)
	for i := range data {
		data[i] = byte(off) + byte(i)
	}
}
func (r *recorder) Write(off uint64, data []byte) { r.writes = append(r.writes, off) }

func TestBusDispatch(t *testing.T) {
	var b Bus
	a, c := &recorder{}, &recorder{}
	if err := b.Insert(0x3f8, 8, "serial", a); err != nil {
		t.Fatal(err)
	}
	if err := b.Insert(0xd0000000, 0x1000, "virtio", c); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr uint64
		n    int
		ok   bool
	}{
		{0x3f8, 1, true},
		{0x3ff, 1, true},
		{0x3ff, 2, false}, // straddles the end
		{0x3f7, 2, false}, // straddles the start
		{0x400, 1, false},
		{0xd0000ffc, 4, true},
		{0xd0000ffd, 4, false},
		{^uint64(0), 8, false},
	} {
		data := make([]byte, tt.n)
		if got := b.Read(tt.addr, data); got != tt.ok {
			t.Errorf("Read(%#x, %d) = %v, want %v", tt.addr, tt.n, got, tt.ok)
		}
		if !tt.ok && !bytes.Equal(data, bytes.Repeat([]byte{0xff}, tt.n)) {
			t.Errorf("Read(%#x, %d) of nothing = % x, want all ones", tt.addr, tt.n, data)
		}
		if got := b.Write(tt.addr, data); got != tt.ok {
			t.Errorf("Write(%#x, %d) = %v, want %v", tt.addr, tt.n, got, tt.ok)
		}
	}
	if want := []uint64{0, 7}; !equal(a.reads, want) {
		t.Errorf("serial saw offsets %v, want %v", a.reads, want)
	}
	if want := []uint64{0xffc}; !equal(c.writes, want) {
		t.Errorf("virtio saw offsets %v, want %v", c.writes, want)
	}
	if err := b.Insert(0x3fc, 8, "overlap", &recorder{}); err == nil || !strings.Contains(err.Error(), "overlaps serial") {
		t.Errorf("overlapping Insert = %v, want an error naming serial", err)
	}
	if err := b.Insert(^uint64(0), 2, "wrap", &recorder{}); err == nil {
		t.Error("wrapping Insert succeeded")
	}
	if got, want := b.String(), "0x000003f8-0x000003ff serial\n0xd0000000-0xd0000fff virtio\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type uart struct {
	t    *testing.T
	s    *Serial
	out  bytes.Buffer
	irqs int
}

func newUART(t *testing.T) *uart {
	u := &uart{t: t}
	u.s = NewSerial(&u.out, func() { u.irqs++ })
	return u
}

func (u *uart) out8(off uint64, v byte) { u.s.Write(off, []byte{v}) }
func (u *uart) in8(off uint64) byte {
	b := []byte{0xaa}
	u.s.Read(off, b)
	return b[0]
}

// The checks Linux's 8250 driver makes in autoconfig() before it believes
// a 16550A is there.
func TestSerialPassesLinuxProbe(t *testing.T) {
	u := newUART(t)
	u.out8(UART_SCR, 0xa5)
	if got := u.in8(UART_SCR); got != 0xa5 {
		t.Errorf("scratch = %#x, want 0xa5", got)
	}
	u.out8(UART_IER, 0)
	if got := u.in8(UART_IER); got != 0 {
		t.Errorf("IER after 0 = %#x", got)
	}
	u.out8(UART_IER, 0x0f)
	if got := u.in8(UART_IER); got != 0x0f {
		t.Errorf("IER after 0x0f = %#x, want 0x0f", got)
	}
	u.out8(UART_IER, 0)
	u.out8(UART_MCR, UART_MCR_LOOP|0x0a) // loopback with OUT2 and RTS
	if got := u.in8(UART_MSR) & 0xf0; got != UART_MSR_DCD|UART_MSR_CTS {
		t.Errorf("loopback MSR = %#x, want DCD|CTS (0x90)", got)
	}
	u.out8(UART_MCR, 0)
	u.out8(UART_FCR, UART_FCR_ENABLE_FIFO)
	if got := u.in8(UART_IIR) & UART_IIR_FIFO; got != UART_IIR_FIFO {
		t.Errorf("IIR FIFO bits = %#x, want 0xc0 (a 16550A)", got)
	}
	u.out8(UART_LCR, UART_LCR_DLAB)
	u.out8(UART_DLL, 1)
	u.out8(UART_DLM, 0)
	if got := u.in8(UART_DLL); got != 1 {
		t.Errorf("DLL = %#x", got)
	}
	u.out8(UART_LCR, 0x03) // 8N1
}

func TestSerialTransmitAndInterrupts(t *testing.T) {
	u := newUART(t)
	for _, c := range []byte("hi\n") {
		u.out8(UART_TX, c)
	}
	if u.out.String() != "hi\n" || u.irqs != 0 {
		t.Errorf("output %q with %d interrupts, want \"hi\\n\" and none (IER is 0)", u.out.String(), u.irqs)
	}
	if got := u.in8(UART_LSR); got != UART_LSR_THRE|UART_LSR_TEMT {
		t.Errorf("LSR = %#x, want THRE|TEMT", got)
	}
	u.out8(UART_IER, UART_IER_THRI)
	if u.irqs != 1 || u.in8(UART_IIR)&0x0f != UART_IIR_THRI {
		t.Errorf("enabling THRI gave %d interrupts; want one, with IIR saying THRI", u.irqs)
	}
	if got := u.in8(UART_IIR) & 0x0f; got != UART_IIR_NO_INT {
		t.Errorf("IIR after it was read = %#x, want no interrupt", got)
	}
	u.out8(UART_IER, UART_IER_RDI)
	if n := u.s.Input([]byte("ok")); n != 2 {
		t.Fatalf("Input took %d bytes", n)
	}
	if u.irqs != 2 || u.in8(UART_IIR)&0x0f != UART_IIR_RDI || u.in8(UART_LSR)&UART_LSR_DR == 0 {
		t.Errorf("input did not raise a receive interrupt")
	}
	if a, b := u.in8(UART_RX), u.in8(UART_RX); a != 'o' || b != 'k' {
		t.Errorf("received %q%q, want ok", a, b)
	}
	if u.in8(UART_LSR)&UART_LSR_DR != 0 {
		t.Error("LSR still says data ready")
	}
	// Loopback: transmitted bytes come back, and do not leave.
	u.out8(UART_MCR, UART_MCR_LOOP)
	u.out8(UART_TX, 'x')
	if got := u.in8(UART_RX); got != 'x' || strings.Contains(u.out.String(), "x") {
		t.Errorf("loopback read %q, output %q", got, u.out.String())
	}
	if n := u.s.Input(make([]byte, 2*rxLimit)); n != rxLimit {
		t.Errorf("Input of %d bytes accepted %d, want the limit %d", 2*rxLimit, n, rxLimit)
	}
}

func TestPowerEvents(t *testing.T) {
	var got []Event
	notify := func(e Event) { got = append(got, e) }
	sc := &SleepControl{S5Type: 5, Notify: notify}
	sc.Write(0, []byte{5 << 2}) // SLP_TYP without SLP_EN: nothing
	sc.Write(0, []byte{3<<2 | SLP_EN})
	sc.Write(0, []byte{5<<2 | SLP_EN})
	rr := &ResetRegister{Value: 6, Notify: notify}
	rr.Write(0, []byte{2})
	rr.Write(0, []byte{6})
	kbd := &I8042{Notify: notify}
	kbd.Write(4, []byte{0xfe})
	kbd.Write(4, []byte{i8042CmdWriteOutputPort})
	kbd.Write(0, []byte{0x01}) // reset line held high: no reset
	kbd.Write(4, []byte{i8042CmdWriteOutputPort})
	kbd.Write(0, []byte{0x00})
	want := []Event{PowerOff, Reset, Reset, Reset}
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("events = %v, want %v", got, want)
		}
	}
	status := []byte{0xff}
	kbd.Read(4, status)
	if status[0] != 0 {
		t.Errorf("i8042 status = %#x, want 0 (buffers empty)", status[0])
	}
}
