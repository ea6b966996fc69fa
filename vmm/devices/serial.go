package devices

import (
	"io"
	"sync"
)

// 16550A UART registers (offsets from the base port, COM1 is 0x3f8) and
// bits, as in include/uapi/linux/serial_reg.h.
const (
	UART_RX  = 0 // in: receive buffer (DLAB=0)
	UART_TX  = 0 // out: transmit holding (DLAB=0)
	UART_DLL = 0 // divisor latch low (DLAB=1)
	UART_IER = 1 // interrupt enable (DLAB=0)
	UART_DLM = 1 // divisor latch high (DLAB=1)
	UART_IIR = 2 // in: interrupt identification
	UART_FCR = 2 // out: FIFO control
	UART_LCR = 3
	UART_MCR = 4
	UART_LSR = 5
	UART_MSR = 6
	UART_SCR = 7

	UART_IER_RDI         = 0x01 // received data available
	UART_IER_THRI        = 0x02 // transmit holding register empty
	UART_IIR_NO_INT      = 0x01
	UART_IIR_THRI        = 0x02
	UART_IIR_RDI         = 0x04
	UART_IIR_FIFO        = 0xc0 // FIFOs enabled (a 16550A)
	UART_FCR_ENABLE_FIFO = 0x01
	UART_LCR_DLAB        = 0x80
	UART_MCR_LOOP        = 0x10
	UART_LSR_DR          = 0x01
	UART_LSR_THRE        = 0x20
	UART_LSR_TEMT        = 0x40
	UART_MSR_CTS         = 0x10
	UART_MSR_DSR         = 0x20
	UART_MSR_RI          = 0x40
	UART_MSR_DCD         = 0x80
)

// COM1 is the first serial port's I/O base and ISA IRQ.
const (
	COM1Port = 0x3f8
	COM1IRQ  = 4
)

// rxLimit bounds the bytes queued for the guest; input beyond it is
// dropped, as a real UART overruns.
const rxLimit = 4096

// Serial is a 16550A UART: what the guest transmits goes to Out, what
// Input queues the guest receives, and IRQ is raised as the chip would.
// Transmission is instant, so the transmitter is always empty.
type Serial struct {
	mu      sync.Mutex
	out     io.Writer
	irq     func()
	ier     byte
	lcr     byte
	mcr     byte
	scr     byte
	dll     byte
	dlm     byte
	fifo    bool
	thrIntr bool // a "transmitter empty" interrupt is pending
	rx      []byte
	stats   SerialStats
}

// SerialStats counts what passed through the UART.
type SerialStats struct {
	TxBytes, RxBytes, Interrupts uint64
	IER                          byte // the interrupt enable register now
}

// Stats returns the counters.
func (s *Serial) Stats() SerialStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.IER = s.ier
	return st
}

// NewSerial returns a UART writing to out and raising interrupts with irq
// (an edge on the guest's IRQ line; nil for none).
func NewSerial(out io.Writer, irq func()) *Serial {
	if irq == nil {
		irq = func() {}
	}
	return &Serial{out: out, irq: irq, dll: 0x0c /* 9600 baud */}
}

// Input queues bytes for the guest to read and interrupts it if it asked
// for receive interrupts. It returns how many bytes fit.
func (s *Serial) Input(p []byte) int {
	s.mu.Lock()
	n := min(len(p), rxLimit-len(s.rx))
	s.rx = append(s.rx, p[:n]...)
	raise := n > 0 && s.ier&UART_IER_RDI != 0
	s.stats.RxBytes += uint64(n)
	if raise {
		s.stats.Interrupts++
	}
	s.mu.Unlock()
	if raise {
		s.irq()
	}
	return n
}

func (s *Serial) Read(offset uint64, data []byte) {
	for i := range data {
		data[i] = 0
	}
	if len(data) != 1 {
		return
	}
	s.mu.Lock()
	v, raise := s.readReg(offset)
	if raise {
		s.stats.Interrupts++
	}
	s.mu.Unlock()
	data[0] = v
	if raise {
		s.irq()
	}
}

func (s *Serial) readReg(offset uint64) (byte, bool) {
	dlab := s.lcr&UART_LCR_DLAB != 0
	switch offset {
	case UART_RX:
		if dlab {
			return s.dll, false
		}
		if len(s.rx) == 0 {
			return 0, false
		}
		b := s.rx[0]
		s.rx = s.rx[1:]
		return b, len(s.rx) > 0 && s.ier&UART_IER_RDI != 0
	case UART_IER:
		if dlab {
			return s.dlm, false
		}
		return s.ier, false
	case UART_IIR:
		v := byte(UART_IIR_NO_INT)
		switch {
		case s.ier&UART_IER_RDI != 0 && len(s.rx) > 0:
			v = UART_IIR_RDI
		case s.ier&UART_IER_THRI != 0 && s.thrIntr:
			v = UART_IIR_THRI
			s.thrIntr = false // reading IIR acknowledges THRE
		}
		if s.fifo {
			v |= UART_IIR_FIFO
		}
		return v, false
	case UART_LCR:
		return s.lcr, false
	case UART_MCR:
		return s.mcr, false
	case UART_LSR:
		v := byte(UART_LSR_THRE | UART_LSR_TEMT)
		if len(s.rx) > 0 {
			v |= UART_LSR_DR
		}
		return v, false
	case UART_MSR:
		if s.mcr&UART_MCR_LOOP != 0 {
			// Loopback wires DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD; Linux's
			// 8250 probe checks exactly this.
			return (s.mcr&0x01)<<5 | (s.mcr&0x02)<<3 | (s.mcr&0x04)<<4 | (s.mcr&0x08)<<4, false
		}
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS, false
	case UART_SCR:
		return s.scr, false
	}
	return 0, false
}

func (s *Serial) Write(offset uint64, data []byte) {
	if len(data) != 1 {
		return
	}
	v := data[0]
	s.mu.Lock()
	raise, out := s.writeReg(offset, v)
	if raise {
		s.stats.Interrupts++
	}
	if out {
		s.stats.TxBytes++
	}
	w := s.out
	s.mu.Unlock()
	if out && w != nil {
		// data[:1] is v, and a Writer must not keep it: no allocation
		// per byte. The console's errors are the host's business.
		w.Write(data[:1])
	}
	if raise {
		s.irq()
	}
}

// writeReg returns whether to raise the interrupt and whether v leaves
// through the transmitter.
func (s *Serial) writeReg(offset uint64, v byte) (raise, out bool) {
	dlab := s.lcr&UART_LCR_DLAB != 0
	switch offset {
	case UART_TX:
		if dlab {
			s.dll = v
			return false, false
		}
		if s.mcr&UART_MCR_LOOP != 0 {
			if len(s.rx) < rxLimit {
				s.rx = append(s.rx, v)
			}
			return s.ier&UART_IER_RDI != 0, false
		}
		s.thrIntr = true
		return s.ier&UART_IER_THRI != 0, true
	case UART_IER:
		if dlab {
			s.dlm = v
			return false, false
		}
		old := s.ier
		s.ier = v & 0x0f
		if s.ier&UART_IER_THRI != 0 && old&UART_IER_THRI == 0 {
			s.thrIntr = true // the transmitter is empty: say so at once
			raise = true
		}
		if s.ier&UART_IER_RDI != 0 && len(s.rx) > 0 {
			raise = true
		}
		return raise, false
	case UART_FCR:
		s.fifo = v&UART_FCR_ENABLE_FIFO != 0
	case UART_LCR:
		s.lcr = v
	case UART_MCR:
		s.mcr = v & 0x1f
	case UART_SCR:
		s.scr = v
	}
	return false, false
}
