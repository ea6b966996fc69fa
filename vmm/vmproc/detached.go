package vmproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/vmm"
	"github.com/hullrt/hull/vmm/control"
)

// A detached VM's process is started in a new session with no terminal.
// It serves the control socket <root>/vm/<name>/control.sock and tells
// its parent through an inherited pipe, its fd 3, when the VM runs or
// why it could not start:
//
//	hull vm run --detach          hull-vmm --detach (the VM process)
//	  pipe, fork+exec, setsid →
//	                                control.Listen, vmm.Start
//	                           ←    "ok\n" or "error: ...\n" on fd 3
//	  prints the name, exits 0      runs until the guest ends or kill
const readyFD = 3

// Detach starts cfg's VM in a process of its own and returns once the VM
// runs, or with the reason it could not start. The process is hull-vmm
// when it is next to this executable; otherwise fallback, a command line
// that makes this program call RunDetached with the configuration JSON
// appended as the last argument (hull's hidden "vm run --daemon-config").
func Detach(cfg vmm.Config, root string, fallback []string) error {
	if cfg.Name == "" {
		return errors.New("--detach needs --name, by which hull vm ls, console, stop and kill find the VM")
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var cmd *exec.Cmd
	if bin := Binary(); bin != "" {
		cmd = exec.Command(bin, "--detach", "--root", root, "--config", string(cfgJSON))
		cmd.Args[0] = BinaryName
	} else {
		cmd = exec.Command(fallback[0], append(fallback[1:], string(cfgJSON))...)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd.Env = Env(os.Environ())
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := startWithStackLimit(cmd, StackLimit); err != nil {
		w.Close()
		return err
	}
	w.Close()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		cmd.Wait()
		return fmt.Errorf("vm %q: the VM process exited before it was ready", cfg.Name)
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error: "); ok {
		cmd.Wait()
		return fmt.Errorf("vm %q: %s", cfg.Name, msg)
	}
	cmd.Process.Release()
	return nil
}

// startWithStackLimit starts cmd with RLIMIT_STACK lowered to limit, if
// it is above. A child inherits its parent's limits at fork, so this
// lowers this process's own for the moment of the fork: any thread it
// starts meanwhile gets a smaller stack too, which Go does not mind.
func startWithStackLimit(cmd *exec.Cmd, limit uint64) error {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &old); err != nil || old.Cur <= limit {
		return cmd.Start()
	}
	if err := unix.Setrlimit(unix.RLIMIT_STACK, &unix.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		return cmd.Start()
	}
	err := cmd.Start()
	if rerr := unix.Setrlimit(unix.RLIMIT_STACK, &old); rerr != nil && err == nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("restoring RLIMIT_STACK: %w", rerr)
	}
	return err
}

// RunDetached is the detached VM's process (see Detach), given its
// configuration as JSON. It returns the process's exit status: 0 once
// the guest has ended and the VM's state is removed, 1 when the VM
// could not start (the reason went to the parent on fd 3).
func RunDetached(cfgJSON, root string) int {
	ready := os.NewFile(readyFD, "ready")
	fail := func(err error) int {
		fmt.Fprintf(ready, "error: %v\n", err)
		ready.Close()
		return 1
	}
	cfg, err := vmm.ParseConfig(strings.NewReader(cfgJSON))
	if err != nil {
		return fail(err)
	}
	signal.Ignore(unix.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	console := control.NewConsole()
	// The name first: a VM of that name already running refuses this one
	// before a guest boots. Nothing is served until the VM is set.
	d := &daemonVM{cfg: cfg}
	srv, err := control.Listen(root, cfg.Name, d, console)
	if err != nil {
		return fail(err)
	}
	vm, err := vmm.Start(ctx, cfg, vmm.WithConsole(console))
	if err != nil {
		if cerr := srv.Close(root, cfg.Name); cerr != nil {
			err = fmt.Errorf("%w; removing its state: %w", err, cerr)
		}
		return fail(err)
	}
	d.vm, d.started = vm, time.Now()
	serveCtx, stopServing := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { srv.Serve(serveCtx); close(served) }()
	// Before "ok", so that the VM process has settled when
	// hull vm run --detach returns.
	settle(os.Stderr)
	fmt.Fprintln(ready, "ok")
	ready.Close()

	res := vm.Wait()
	d.setEnded(res)
	console.Close()
	stopServing()
	<-served
	if err := srv.Close(root, cfg.Name); err != nil {
		fmt.Fprintf(os.Stderr, "hull: vm %q: %v\n", cfg.Name, err)
		return 1
	}
	return 0
}

// daemonVM is the running VM as the control socket sees it.
type daemonVM struct {
	vm      *vmm.VM
	cfg     vmm.Config
	started time.Time
	ended   string
}

func (d *daemonVM) setEnded(r vmm.Result) { d.ended = r.Reason.String() }

func (d *daemonVM) Info() control.Info {
	c := d.cfg
	info := control.Info{
		Name: c.Name, State: "running", PID: os.Getpid(), Started: d.started,
		CPUs: max(c.CPUs, vmm.DefaultCPUs), MemoryMiB: c.MemoryMiB, Kernel: c.Kernel, Initrd: c.Initrd, Cmdline: c.Cmdline,
	}
	if info.MemoryMiB == 0 {
		info.MemoryMiB = vmm.DefaultMemoryMiB
	}
	if info.Cmdline == "" {
		info.Cmdline = vmm.DefaultCmdline
	}
	if d.ended != "" {
		info.State = d.ended
	}
	for _, disk := range c.Disks {
		s := disk.Path
		if disk.ReadOnly {
			s += " (read-only)"
		}
		info.Disks = append(info.Disks, s)
	}
	for _, n := range c.Net {
		info.Net = append(info.Net, "tap="+n.Tap+" bridge="+n.Bridge)
	}
	st := d.vm.SerialStats()
	info.Console.TxBytes, info.Console.RxBytes = st.TxBytes, st.RxBytes
	if ms, err := d.vm.MemoryStats(); err == nil {
		info.Memory = &control.Memory{
			GuestResidentKiB: ms.GuestResidentBytes >> 10, RSSKiB: ms.RSSBytes >> 10,
			RSSAnonKiB: ms.RSSAnonBytes >> 10, RSSFileKiB: ms.RSSFileBytes >> 10,
			OverheadKiB: ms.OverheadBytes() >> 10, Threads: ms.Threads,
			GoHeapKiB: ms.Go.HeapBytes >> 10, GoHeapFreeKiB: ms.Go.HeapFreeBytes >> 10,
			GoStackKiB: ms.Go.StackBytes >> 10, GoRuntimeKiB: ms.Go.RuntimeBytes >> 10,
		}
	}
	return info
}

// Stop presses the guest's power button and, if it has not powered off
// within StopTimeout, stops it as kill does.
func (d *daemonVM) Stop() {
	d.vm.PowerButton()
	time.AfterFunc(StopTimeout, d.vm.Stop)
}

// Kill stops the vCPUs at once.
func (d *daemonVM) Kill()                     { d.vm.Stop() }
func (d *daemonVM) ConsoleInput(p []byte) int { return d.vm.ConsoleInput(p) }
