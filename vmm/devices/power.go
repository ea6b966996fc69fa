package devices

import "sync"

// Event is what the guest asked of the machine.
type Event int

const (
	// PowerOff: the guest entered ACPI S5 (Linux's poweroff, halt -p).
	PowerOff Event = iota + 1
	// Reset: the guest asked for a reboot (ACPI reset register, or the
	// i8042 reset line, Linux's reboot=k).
	Reset
)

func (e Event) String() string {
	switch e {
	case PowerOff:
		return "power off"
	case Reset:
		return "reset"
	}
	return "unknown event"
}

// ACPI sleep control register bits (ACPI 6.5, 4.8.3.7).
const (
	SLP_EN       = 1 << 5
	SLP_TYP_MASK = 0x7 << 2
)

// SleepControl is the FADT's sleep control register (a hardware-reduced
// platform's way to sleep or power off). Writing SLP_EN with SLP_TYP
// equal to the _S5 sleep type reports PowerOff.
type SleepControl struct {
	S5Type byte
	Notify func(Event)
}

func (d *SleepControl) Read(offset uint64, data []byte) { clear(data) }

func (d *SleepControl) Write(offset uint64, data []byte) {
	if offset != 0 || len(data) != 1 {
		return
	}
	v := data[0]
	if v&SLP_EN != 0 && (v&SLP_TYP_MASK)>>2 == d.S5Type {
		d.Notify(PowerOff)
	}
}

// SleepStatus is the FADT's sleep status register: nothing ever wakes
// the machine, so it always reads 0.
type SleepStatus struct{}

func (SleepStatus) Read(offset uint64, data []byte)  { clear(data) }
func (SleepStatus) Write(offset uint64, data []byte) {}

// ResetRegister is the FADT's reset register: writing Value resets.
type ResetRegister struct {
	Value  byte
	Notify func(Event)
}

func (d *ResetRegister) Read(offset uint64, data []byte) { clear(data) }

func (d *ResetRegister) Write(offset uint64, data []byte) {
	if len(data) == 1 && data[0] == d.Value {
		d.Notify(Reset)
	}
}

// i8042 ports and commands.
const (
	I8042DataPort    = 0x60
	I8042CommandPort = 0x64

	i8042CmdWriteOutputPort = 0xd1 // the next data byte is the output port; bit 0 is the CPU reset line
	i8042CmdPulseReset      = 0xfe // pulse the output port's reset line
)

// I8042 is just enough of the PC keyboard controller for the guest to
// reset the machine through it: its status always reads "nothing to read,
// ready to accept", and the reset commands report Reset. Its window
// covers ports 0x60 to 0x64; offsets 0 (data) and 4 (command/status)
// matter.
type I8042 struct {
	mu      sync.Mutex
	pending byte // a command waiting for its data byte
	Notify  func(Event)
}

func (d *I8042) Read(offset uint64, data []byte) { clear(data) }

func (d *I8042) Write(offset uint64, data []byte) {
	if len(data) != 1 {
		return
	}
	v := data[0]
	d.mu.Lock()
	var reset bool
	switch offset {
	case I8042CommandPort - I8042DataPort:
		d.pending = 0
		switch v {
		case i8042CmdPulseReset:
			reset = true
		case i8042CmdWriteOutputPort:
			d.pending = v
		}
	case 0:
		if d.pending == i8042CmdWriteOutputPort && v&1 == 0 {
			reset = true
		}
		d.pending = 0
	}
	d.mu.Unlock()
	if reset {
		d.Notify(Reset)
	}
}
