package vmproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/hullrt/hull/vmm"
)

// ErrNoBinary is Exec's answer when there is no hull-vmm next to hull.
var ErrNoBinary = errors.New(BinaryName + " not found next to this executable")

// Exec replaces this process with hull-vmm running cfg in the
// foreground (RunForeground): same process ID, terminal and standard
// streams, and its exit status is the VM's. It returns only when it
// cannot: ErrNoBinary, or why execve failed.
func Exec(cfg vmm.Config) error {
	bin := Binary()
	if bin == "" {
		return ErrNoBinary
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var old unix.Rlimit
	lowered := unix.Getrlimit(unix.RLIMIT_STACK, &old) == nil && old.Cur > StackLimit &&
		unix.Setrlimit(unix.RLIMIT_STACK, &unix.Rlimit{Cur: StackLimit, Max: old.Max}) == nil
	err = unix.Exec(bin, []string{BinaryName, "--config", string(cfgJSON)}, Env(os.Environ()))
	if lowered {
		unix.Setrlimit(unix.RLIMIT_STACK, &old)
	}
	return fmt.Errorf("execve %s: %w", bin, err)
}

// StopTimeout is how long a stop waits for the guest to power off after
// the ACPI power button before it stops the vCPUs.
const StopTimeout = 30 * time.Second

// RunForeground boots cfg with the guest's serial console on stdout and
// host input from stdin, and returns the process's exit status: 0 when
// the guest powered off or rebooted, 1 when it could not start or
// crashed (the reason, and a crash's registers, are written to stderr).
//
// On a terminal, stdin is put in raw mode and Ctrl-A x ends the VM, as
// in qemu. SIGINT or SIGTERM press the guest's power button, as a host
// shutting down asks a VM to; a second signal, or 30 s without a
// power-off, stops the vCPUs.
func RunForeground(ctx context.Context, cfg vmm.Config, stdin *os.File, stdout, stderr io.Writer) int {
	// The handler is installed before the guest runs, so no signal finds
	// the VM undefended.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, unix.SIGTERM)
	defer signal.Stop(sigs)
	vm, err := vmm.Start(ctx, cfg, vmm.WithConsole(stdout))
	if err != nil {
		fmt.Fprintf(stderr, "hull: %v\n", err)
		return 1
	}
	settle(stderr)
	go func() {
		select {
		case <-sigs:
		case <-vm.Done():
			return
		}
		fmt.Fprintf(stderr, "hull: pressing the guest's power button (again to stop it now)\r\n")
		vm.PowerButton()
		select {
		case <-sigs:
		case <-time.After(StopTimeout):
		case <-vm.Done():
			return
		}
		vm.Stop()
	}()
	fd := int(stdin.Fd())
	interactive := term.IsTerminal(fd)
	if interactive {
		if old, err := term.MakeRaw(fd); err == nil {
			defer term.Restore(fd, old)
		}
		fmt.Fprintf(stderr, "hull: console attached; Ctrl-A x ends the VM\r\n")
	}
	go forwardConsole(stdin, vm, interactive)
	res := vm.Wait()
	if err := res.Err(); err != nil {
		fmt.Fprintf(stderr, "hull: %v\r\n", err)
		return 1
	}
	if res.Reason == vmm.Reboot {
		fmt.Fprintf(stderr, "hull: %s\r\n", res.Reason)
	}
	return 0
}

// consoleRetry is how long input waits when the guest's UART is full.
const consoleRetry = 10 * time.Millisecond

// forwardConsole copies host input to the guest's UART. Interactive input
// watches for the escape sequence, which stops the VM.
func forwardConsole(r io.Reader, vm *vmm.VM, interactive bool) {
	buf := make([]byte, 256)
	var esc EscapeFilter
	for {
		n, err := r.Read(buf)
		in := buf[:n]
		if interactive {
			var quit bool
			if in, quit = esc.Filter(in); quit {
				vm.Stop()
				return
			}
		}
		for len(in) > 0 {
			m := vm.ConsoleInput(in)
			in = in[m:]
			if len(in) > 0 {
				select {
				case <-vm.Done():
					return
				case <-time.After(consoleRetry):
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// EscapeKey (Ctrl-A) then 'x' ends the VM from an interactive console,
// or detaches "hull vm console", as in qemu.
const EscapeKey = 0x01

// EscapeFilter implements qemu's console escapes: Ctrl-A x quits, Ctrl-A
// Ctrl-A sends one Ctrl-A, Ctrl-A and anything else sends that byte. The
// state carries across reads.
type EscapeFilter struct{ escaped bool }

// Filter returns what of in goes to the guest, and whether the escape
// sequence to quit was typed (what follows it is dropped).
func (e *EscapeFilter) Filter(in []byte) (out []byte, quit bool) {
	for _, b := range in {
		switch {
		case e.escaped && (b == 'x' || b == 'X'):
			return out, true
		case e.escaped:
			e.escaped = false
			out = append(out, b) // Ctrl-A Ctrl-A gives one Ctrl-A
		case b == EscapeKey:
			e.escaped = true
		default:
			out = append(out, b)
		}
	}
	return out, false
}
