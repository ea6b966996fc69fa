package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/hullrt/hull/vmm"
	"github.com/hullrt/hull/vmm/control"
)

// Detached VMs. "hull vm run --detach" re-executes hull as the VM's own
// process (a new session, no terminal), which serves the control socket
// <root>/vm/<name>/control.sock (package control documents the protocol)
// and tells its parent through an inherited pipe when the VM runs, or
// why it could not start:
//
//	hull vm run --detach          hull vm run (the VM process)
//	  pipe, fork+exec, setsid →
//	                                vmm.Start, control.Listen
//	                           ←    "ok\n" or "error: ...\n" on fd 3
//	  prints the name, exits 0      runs until the guest ends or kill

const readyFD = 3 // the pipe's write end in the VM process

func startDetached(cfg vmm.Config, root string, stdout io.Writer) error {
	if cfg.Name == "" {
		return errors.New("--detach needs --name, by which hull vm ls, console, stop and kill find the VM")
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "--root", root, "vm", "run", "--daemon-config", string(cfgJSON))
	cmd.Env = vmProcessEnv(os.Environ())
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := startWithStackLimit(cmd, vmProcessStackLimit); err != nil {
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
	fmt.Fprintln(stdout, cfg.Name)
	return nil
}

// The VM process is started so that what it holds besides guest RAM
// stays small (vmm.MemoryStats; on hosts whose transparent huge pages
// are "always", as Debian's are, each of these otherwise costs up to
// 2 MiB):
//
//   - GODEBUG=disablethp=1 keeps the Go heap, a few MiB, in 4 KiB pages
//     rather than mostly empty 2 MiB ones (guest RAM keeps its own
//     MADV_HUGEPAGE);
//   - RLIMIT_STACK of vmProcessStackLimit: the C library sizes the
//     stacks of the threads it starts (cgo's: every thread but the
//     first) by it, and a stack of the default 8 MiB that happens to be
//     2 MiB-aligned gets a huge page when first touched. Go uses a few
//     KiB of each (without cgo, its threads' stacks are 16 KiB).
//
// A foreground hull vm run has neither: its runtime and C library are
// set up before it knows it will run a VM. Both it and this process give
// back what setup took once the VM runs (releaseSetupMemory).
const vmProcessStackLimit = 1 << 20

// vmProcessEnv is env with disablethp added to GODEBUG, unless it sets
// disablethp itself.
func vmProcessEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	var godebug string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		out = append(out, kv)
	}
	if !strings.Contains(","+godebug, ",disablethp=") {
		godebug = strings.TrimPrefix(godebug+",disablethp=1", ",")
	}
	return append(out, "GODEBUG="+godebug)
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

// runDaemon is the detached VM's process.
func runDaemon(cfgJSON, root string) error {
	ready := os.NewFile(readyFD, "ready")
	fail := func(err error) error {
		fmt.Fprintf(ready, "error: %v\n", err)
		ready.Close()
		return &exitError{code: 1}
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
	releaseSetupMemory(os.Stderr)
	fmt.Fprintln(ready, "ok")
	ready.Close()

	res := vm.Wait()
	d.setEnded(res)
	console.Close()
	stopServing()
	<-served
	return srv.Close(root, cfg.Name)
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

// stopTimeout is how long stop waits for the guest to power off after
// the ACPI power button before it stops the vCPUs.
const stopTimeout = 30 * time.Second

// Stop presses the guest's power button and, if it has not powered off
// within stopTimeout, stops it as kill does.
func (d *daemonVM) Stop() {
	d.vm.PowerButton()
	time.AfterFunc(stopTimeout, d.vm.Stop)
}

// Kill stops the vCPUs at once.
func (d *daemonVM) Kill()                     { d.vm.Stop() }
func (d *daemonVM) ConsoleInput(p []byte) int { return d.vm.ConsoleInput(p) }

func newVMListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "list detached VMs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := control.List(g.root)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tPID\tCPUS\tMEMORY\tSTARTED")
			for _, n := range names {
				resp, err := control.Call(g.root, n, control.Request{Op: "inspect"})
				if err != nil || resp.Info == nil {
					// A VM process that died uncleanly left its
					// directory: never show it as running.
					st, pid, perr := control.Probe(g.root, n)
					if perr != nil {
						continue // gone meanwhile
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\n", n, st, pidText(pid))
					continue
				}
				i := resp.Info
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%dM\t%s\n", i.Name, i.State, i.PID, i.CPUs, i.MemoryMiB, i.Started.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
}

func newVMInspectCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use: "inspect NAME", Short: "show a detached VM's configuration and state as JSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := control.Call(g.root, args[0], control.Request{Op: "inspect"})
			if err != nil {
				if st, pid, perr := control.Probe(g.root, args[0]); perr == nil && st == control.Dead {
					return fmt.Errorf("vm %q is dead (its process%s is gone); hull vm kill %s removes its state", args[0], pidSuffix(pid), args[0])
				}
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(resp.Info)
		},
	}
}

func newVMStopCommand(g *globalOptions, op string) *cobra.Command {
	short := map[string]string{
		"stop": "press a detached VM's ACPI power button; kill it if it has not powered off after 30 s",
		"kill": "stop a detached VM at once",
	}[op]
	return &cobra.Command{
		Use: op + " NAME", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := control.Call(g.root, args[0], control.Request{Op: op}); err != nil {
				if !errors.Is(err, control.ErrNotRunning) {
					return err
				}
				// No answer: a VM whose process died leaves a stale
				// state directory, which stop and kill clean up.
				pid, rerr := control.RemoveStale(g.root, args[0])
				if rerr != nil {
					return fmt.Errorf("%w; %w", err, rerr)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "vm %q was not running (its process%s is gone); removed its stale state\n", args[0], pidSuffix(pid))
				return nil
			}
			// Wait for the VM process to remove its socket.
			for deadline := time.Now().Add(stopTimeout + 10*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if _, err := os.Stat(control.Dir(g.root, args[0])); errors.Is(err, os.ErrNotExist) {
					return nil
				}
			}
			return fmt.Errorf("vm %q: still running %v after %s", args[0], stopTimeout+10*time.Second, op)
		},
	}
}

func newVMConsoleCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use: "console NAME", Short: "attach to a detached VM's serial console (Ctrl-A x detaches)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := control.Dial(g.root, args[0], control.Request{Op: "console"})
			if err != nil {
				return err
			}
			defer c.Close()
			r := bufio.NewReader(c)
			line, err := r.ReadBytes('\n')
			if err != nil {
				return err
			}
			var resp control.Response
			if err := json.Unmarshal(line, &resp); err != nil || !resp.OK {
				return fmt.Errorf("vm %q: console: %s", args[0], resp.Error)
			}
			stdin := int(os.Stdin.Fd())
			if term.IsTerminal(stdin) {
				if old, err := term.MakeRaw(stdin); err == nil {
					defer term.Restore(stdin, old)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "hull: attached to %s; Ctrl-A x detaches\r\n", args[0])
			}
			go func() {
				buf := make([]byte, 256)
				var esc escapeFilter
				for {
					n, err := os.Stdin.Read(buf)
					out, quit := esc.filter(buf[:n])
					if quit {
						c.Close() // detach; the VM runs on
						return
					}
					if _, werr := c.Write(out); werr != nil || err != nil {
						return
					}
				}
			}()
			io.Copy(cmd.OutOrStdout(), r)
			return nil
		},
	}
}

func pidText(pid int) string {
	if pid == 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}

func pidSuffix(pid int) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprintf(" %d", pid)
}
