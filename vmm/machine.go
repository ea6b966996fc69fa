package vmm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/vmm/acpi"
	"github.com/hullrt/hull/vmm/boot"
	"github.com/hullrt/hull/vmm/devices"
	"github.com/hullrt/hull/vmm/kvm"
	"github.com/hullrt/hull/vmm/memory"
)

// Guest physical and I/O addresses of the platform.
const (
	// tssAddr is three pages below the BIOS ROM that VT-x uses to emulate
	// real mode (KVM_SET_TSS_ADDR); inside the MMIO hole, never RAM.
	tssAddr = 0xfffbd000
	// virtioMMIOBase is where the first virtio-mmio window goes; each
	// device gets virtioMMIOSize bytes.
	virtioMMIOBase = 0xd0000000
	virtioMMIOSize = 0x1000
	// firstDeviceGSI is the first IOAPIC pin for virtio devices, after the
	// ISA IRQs Linux expects (timer, keyboard, serial).
	firstDeviceGSI = 5
	// powerButtonGSI is the last IOAPIC pin: the Generic Event Device
	// through which hull presses the guest's ACPI power button.
	powerButtonGSI = 23
)

// VM is a running micro-VM.
type VM struct {
	cfg Config
	log *slog.Logger

	vm     *kvm.VM
	mem    *memory.Guest
	vcpus  []*vcpu
	pio    devices.Bus
	mmio   devices.Bus
	serial *devices.Serial

	powerButton *eventFD // irqfd of the GED that carries the power button

	closersMu sync.Mutex
	closers   []func() error // undone in reverse on teardown

	wg       sync.WaitGroup
	once     sync.Once
	result   Result
	done     chan struct{}
	running  chan struct{} // closed as the boot vCPU first enters KVM_RUN
	stopping atomic.Bool
}

type vcpu struct {
	*kvm.VCPU
	tid atomic.Int32 // the OS thread running it, for kicks; 0 before it starts
}

// requiredCaps are checked before anything is built, so a missing one is
// reported by name rather than as a failing ioctl later.
var requiredCaps = []kvm.Cap{
	kvm.KVM_CAP_USER_MEMORY, kvm.KVM_CAP_IRQCHIP, kvm.KVM_CAP_PIT2, kvm.KVM_CAP_EXT_CPUID,
	kvm.KVM_CAP_SET_TSS_ADDR, kvm.KVM_CAP_IRQFD, kvm.KVM_CAP_IOEVENTFD, kvm.KVM_CAP_IMMEDIATE_EXIT,
}

// Start builds the VM that cfg describes and starts its vCPUs. The VM
// runs until the guest powers off or reboots, it crashes, ctx is done, or
// Stop is called; Wait returns how it ended.
func Start(ctx context.Context, cfg Config, opts ...Option) (_ *VM, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &VM{cfg: cfg, log: o.logger, done: make(chan struct{}), running: make(chan struct{})}
	defer func() {
		if err != nil {
			m.teardown()
		}
	}()

	// The kernel and initrd are mapped, not read, and unmapped once they
	// are copied into guest RAM (boot.Load): they never sit in the heap.
	kernelBytes, unmapKernel, err := mapFile(cfg.Kernel)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	defer unmapKernel()
	var kernel *boot.Kernel
	err = faultAsError(func() (err error) { kernel, err = boot.ParseKernel(kernelBytes); return err })
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", cfg.Kernel, err)
	}
	var initrd []byte
	if cfg.Initrd != "" {
		var unmapInitrd func()
		if initrd, unmapInitrd, err = mapFile(cfg.Initrd); err != nil {
			return nil, fmt.Errorf("initrd: %w", err)
		}
		defer unmapInitrd()
	}

	sys, err := kvm.Open(kvm.DefaultDevice)
	if err != nil {
		return nil, err
	}
	defer sys.Close()
	for _, c := range requiredCaps {
		if v, err := sys.CheckExtension(c); err != nil || v == 0 {
			return nil, fmt.Errorf("%s: %s is missing: %w", kvm.DefaultDevice, c, kvm.ErrNoKVM)
		}
	}
	supportedCPUID, err := sys.SupportedCPUID()
	if err != nil {
		return nil, err
	}

	// The VM and its in-kernel devices. KVM_CREATE_IRQCHIP must precede
	// the vCPUs (each gets a local APIC) and KVM_CREATE_PIT2 needs the
	// irqchip to deliver IRQ 0.
	if m.vm, err = sys.CreateVM(); err != nil {
		return nil, err
	}
	m.closers = append(m.closers, m.vm.Close)
	if err := m.vm.SetTSSAddr(tssAddr); err != nil {
		return nil, err
	}
	if err := m.vm.CreateIRQChip(); err != nil {
		return nil, err
	}
	if err := m.vm.CreatePIT2(kvm.PITConfig{Flags: kvm.KVM_PIT_SPEAKER_DUMMY}); err != nil {
		return nil, err
	}

	// Guest RAM.
	if m.mem, err = memory.New(cfg.MemoryMiB << 20); err != nil {
		return nil, err
	}
	m.closers = append(m.closers, m.mem.Close)
	for i, r := range m.mem.Regions() {
		if err := m.vm.MapMemory(uint32(i), r.GPA, r.Mem, 0); err != nil {
			return nil, err
		}
	}

	// Devices.
	acpiDevs, err := m.addDevices(o)
	if err != nil {
		return nil, err
	}

	// Firmware tables and the kernel.
	if m.powerButton, err = m.irq(powerButtonGSI); err != nil {
		return nil, err
	}
	tables, err := acpi.Build(acpi.Config{
		CPUs: cfg.CPUs, Devices: acpiDevs,
		Serial:         []acpi.SerialPort{{Base: devices.COM1Port, GSI: devices.COM1IRQ}},
		PowerButtonGSI: powerButtonGSI,
	}, boot.ACPIAddr)
	if err != nil {
		return nil, err
	}
	if len(tables) > boot.HighMemStart-boot.ACPIAddr {
		return nil, fmt.Errorf("acpi: %d bytes of tables overflow the BIOS area", len(tables))
	}
	if err := m.mem.Write(boot.ACPIAddr, tables); err != nil {
		return nil, err
	}
	plan, err := boot.MakePlan(kernel, boot.Params{
		MemSize: cfg.MemoryMiB << 20, Cmdline: cfg.Cmdline,
		InitrdSize: uint64(len(initrd)), RSDPAddr: boot.ACPIAddr,
	})
	if err != nil {
		return nil, err
	}
	if err := faultAsError(func() error { return boot.Load(m.mem, kernel, plan, cfg.Cmdline, initrd) }); err != nil {
		return nil, err
	}
	m.log.Debug("boot plan", "plan", plan.String())

	// vCPUs: every one gets CPUID, MSRs, FPU and LAPIC set up; only the
	// boot CPU gets registers. The others wait in KVM for the INIT and
	// startup IPIs Linux sends them.
	for i := 0; i < cfg.CPUs; i++ {
		v, err := m.vm.CreateVCPU(i)
		if err != nil {
			return nil, err
		}
		m.closers = append(m.closers, v.Close)
		m.vcpus = append(m.vcpus, &vcpu{VCPU: v})
		if err := setupVCPU(v, supportedCPUID, i, cfg.CPUs); err != nil {
			return nil, fmt.Errorf("vcpu %d: %w", i, err)
		}
	}
	bsp := m.vcpus[0]
	sregs, err := bsp.Sregs()
	if err != nil {
		return nil, err
	}
	if err := bsp.SetSregs(plan.Sregs(sregs)); err != nil {
		return nil, err
	}
	if err := bsp.SetRegs(plan.Regs()); err != nil {
		return nil, err
	}

	for _, v := range m.vcpus {
		m.wg.Add(1)
		go m.runVCPU(v)
	}
	go func() {
		select {
		case <-ctx.Done():
			m.finish(Result{Stopped, "context: " + ctx.Err().Error()})
		case <-m.done:
		}
	}()
	return m, nil
}

// addDevices puts the platform devices on the buses and returns the
// virtio-mmio windows for the DSDT.
func (m *VM) addDevices(o *options) ([]acpi.MMIODevice, error) {
	serialIRQ, err := m.irq(devices.COM1IRQ)
	if err != nil {
		return nil, err
	}
	m.serial = devices.NewSerial(o.console, serialIRQ.Signal)
	notify := func(e devices.Event) {
		switch e {
		case devices.PowerOff:
			m.finish(Result{PowerOff, "ACPI sleep state S5"})
		case devices.Reset:
			m.finish(Result{Reboot, "reset requested"})
		}
	}
	for _, d := range []struct {
		base, size uint64
		name       string
		dev        devices.Device
	}{
		{devices.COM1Port, 8, "serial (COM1)", m.serial},
		{devices.I8042DataPort, 5, "i8042", &devices.I8042{Notify: notify}},
		{acpi.SleepControlPort, 1, "ACPI sleep control", &devices.SleepControl{S5Type: acpi.S5SleepType, Notify: notify}},
		{acpi.SleepStatusPort, 1, "ACPI sleep status", devices.SleepStatus{}},
		{acpi.ResetPort, 1, "ACPI reset", &devices.ResetRegister{Value: acpi.ResetValue, Notify: notify}},
	} {
		if err := m.pio.Insert(d.base, d.size, d.name, d.dev); err != nil {
			return nil, err
		}
	}
	return m.addVirtio()
}

// irq makes an eventfd that raises gsi through KVM_IRQFD. The IOAPIC
// sees an edge each time it is signalled.
func (m *VM) irq(gsi uint32) (*eventFD, error) {
	e, err := newEventFD()
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, e.Close)
	if err := m.vm.IRQFD(kvm.IRQFD{Fd: uint32(e.fd.Load()), GSI: gsi}); err != nil {
		return nil, fmt.Errorf("irqfd for GSI %d: %w", gsi, err)
	}
	return e, nil
}

// LAPIC register offsets and LVT delivery modes.
const (
	apicLVT0        = 0x350
	apicLVT1        = 0x360
	apicModeNMI     = 4
	apicModeExtINT  = 7
	fpuControlWord  = 0x37f
	fpuMXCSRDefault = 0x1f80
)

func setupVCPU(v *kvm.VCPU, supported []kvm.CPUIDEntry2, cpu, ncpus int) error {
	if err := v.SetCPUID2(GuestCPUID(supported, cpu, ncpus)); err != nil {
		return err
	}
	if err := v.SetMSRs(bootMSRs()); err != nil {
		return err
	}
	if err := v.SetFPU(kvm.FPU{FCW: fpuControlWord, MXCSR: fpuMXCSRDefault}); err != nil {
		return err
	}
	// LINT0 carries the legacy PIC's interrupts (ExtINT) and LINT1 NMIs,
	// as a PC's firmware wires them.
	l, err := v.LAPIC()
	if err != nil {
		return err
	}
	setLVT := func(off int, mode uint32) {
		r := le32(l.Regs[off:])
		r = r&^0x700 | mode<<8
		putLE32(l.Regs[off:], r)
	}
	setLVT(apicLVT0, apicModeExtINT)
	setLVT(apicLVT1, apicModeNMI)
	return v.SetLAPIC(l)
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// runVCPU is one vCPU's thread: KVM_RUN, decode the exit, dispatch it,
// until the VM finishes. KVM requires every ioctl on a vCPU to come from
// the thread that runs it, so the goroutine stays locked to its thread.
func (m *VM) runVCPU(v *vcpu) {
	defer m.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	v.tid.Store(int32(unix.Gettid()))
	if v.ID == 0 {
		close(m.running)
	}
	for !m.stopping.Load() {
		err := v.Run()
		if errors.Is(err, kvm.ErrInterrupted) {
			continue // a kick (Stop) or a Go runtime signal: check and go on
		}
		if err != nil {
			m.finish(Result{Failed, fmt.Sprintf("vCPU %d: %v", v.ID, err)})
			return
		}
		e, err := v.Exit()
		if err != nil {
			m.finish(Result{Failed, fmt.Sprintf("vCPU %d: %v", v.ID, err)})
			return
		}
		if r := handleExit(e, &m.pio, &m.mmio); r != nil {
			if r.Reason == Crashed {
				regs, _ := v.Regs()
				sregs, _ := v.Sregs()
				r.Detail += "; " + dumpRegs(v.ID, regs, sregs)
			}
			m.finish(*r)
			return
		}
	}
}

// finish records the first result and stops every vCPU: it sets
// immediate_exit so that no vCPU re-enters the guest, then signals each
// vCPU thread so that one waiting in KVM_RUN (a halted guest CPU) returns.
func (m *VM) finish(r Result) {
	m.once.Do(func() {
		m.result = r
		m.stopping.Store(true)
		for _, v := range m.vcpus {
			v.SetImmediateExit(true)
		}
		close(m.done)
		go m.kick()
	})
}

// kick interrupts vCPU threads until they have all left KVM_RUN. SIGURG
// is the signal Go's runtime already uses to preempt goroutines, so its
// handler is installed and harmless; KVM_RUN returns EINTR for it.
func (m *VM) kick() {
	exited := make(chan struct{})
	go func() { m.wg.Wait(); close(exited) }()
	for {
		for _, v := range m.vcpus {
			if tid := v.tid.Load(); tid != 0 {
				unix.Tgkill(unix.Getpid(), int(tid), unix.SIGURG)
			}
		}
		select {
		case <-exited:
			return
		case <-afterMillis(10):
		}
	}
}

// PowerButton presses the guest's ACPI power button: an edge on the
// Generic Event Device's GSI, which Linux turns into KEY_POWER. A guest
// whose userspace handles it (systemd-logind, acpid) shuts down and
// powers off; the run then ends as PowerOff.
func (m *VM) PowerButton() { m.powerButton.Signal() }

// Shutdown presses the power button and waits for the guest to power off
// until ctx is done, then stops the VM. It returns how the run ended.
func (m *VM) Shutdown(ctx context.Context) Result {
	m.PowerButton()
	select {
	case <-m.done:
	case <-ctx.Done():
		m.finish(Result{Stopped, "the guest did not power off after the power button: " + ctx.Err().Error()})
	}
	return m.Wait()
}

// Stop ends the run as Stopped (the host's choice). It does not wait.
func (m *VM) Stop() { m.finish(Result{Stopped, "stopped by the host"}) }

// Done is closed when the run has ended (vCPUs may still be leaving).
func (m *VM) Done() <-chan struct{} { return m.done }

// Wait waits for the run to end and every vCPU thread to leave, tears
// the VM down, and returns how it ended.
func (m *VM) Wait() Result {
	<-m.done
	m.wg.Wait()
	m.teardown()
	return m.result
}

// SerialStats reports the console UART's counters.
func (m *VM) SerialStats() devices.SerialStats { return m.serial.Stats() }

// ConsoleInput queues bytes for the guest's serial console; it returns
// how many fit.
func (m *VM) ConsoleInput(p []byte) int { return m.serial.Input(p) }

// teardown closes everything Start built, newest first. Idempotent.
func (m *VM) teardown() {
	m.closersMu.Lock()
	defer m.closersMu.Unlock()
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](); err != nil {
			m.log.Warn("teardown", "err", err)
		}
	}
	m.closers = nil
}
