package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/hullrt/hull/vmm"
	"github.com/hullrt/hull/vmm/kvm"
)

func newVMCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vm",
		Short: "run Linux micro-VMs on /dev/kvm",
		Long: `hull vm boots Linux kernels in KVM micro-VMs, with no QEMU and no
firmware: hull loads the kernel itself, describes the machine in ACPI
tables, and emulates a serial console and virtio devices.`,
	}
	cmd.AddCommand(newVMRunCommand(g), newVMListCommand(g), newVMInspectCommand(g),
		newVMConsoleCommand(g), newVMStopCommand(g, "stop"), newVMStopCommand(g, "kill"))
	return cmd
}

type vmRunFlags struct {
	config  string
	kernel  string
	initrd  string
	append  string
	cpus    int
	memory  string
	disks   []string
	rng     bool
	nets    []string
	vsock   uint64
	name    string
	detach  bool
	explain bool
	daemon  string // the VM process's configuration (hidden)
}

func newVMRunCommand(g *globalOptions) *cobra.Command {
	f := &vmRunFlags{}
	cmd := &cobra.Command{
		Use:   "run --kernel KERNEL [flags]",
		Short: "boot a kernel in a micro-VM in the foreground",
		Long: `Boot a Linux kernel (a distribution's bzImage or an ELF vmlinux) with
its console on this terminal. The run ends when the guest powers off or
reboots (exit status 0) or crashes (exit status 1, with the reason and
the vCPU's registers).

On a terminal, input goes to the guest raw; type Ctrl-A then x to end
the VM from the host.`,
		Example: `  hull vm run --kernel /boot/vmlinuz-$(uname -r) --initrd initrd.img \
      --append "console=ttyS0 root=/dev/vda" --cpus 2 --memory 512M --disk root.img \
      --net tap=tap0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.daemon != "" {
				return runDaemon(f.daemon, g.root)
			}
			cfg, err := f.vmConfig()
			if err != nil {
				return err
			}
			if f.explain {
				text, err := vmm.Explain(cfg)
				if err != nil {
					return err
				}
				_, err = io.WriteString(cmd.OutOrStdout(), text)
				return err
			}
			if f.detach {
				if err := kvm.ProbeHost(kvm.DefaultDevice).Err(); err != nil {
					return err
				}
				return startDetached(cfg, g.root, cmd.OutOrStdout())
			}
			return runVM(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "read the VM's configuration from this JSON file (flags override it)")
	fl.StringVar(&f.kernel, "kernel", "", "kernel image: bzImage or ELF vmlinux")
	fl.StringVar(&f.initrd, "initrd", "", "initramfs image")
	fl.StringVar(&f.append, "append", "", "kernel command line (default \""+vmm.DefaultCmdline+"\")")
	fl.IntVar(&f.cpus, "cpus", 0, "number of vCPUs (default 1)")
	fl.StringVar(&f.memory, "memory", "", "guest RAM, e.g. 512M or 2G (default 512M)")
	fl.StringArrayVar(&f.disks, "disk", nil, "raw disk image as the next virtio disk, FILE[,ro]; repeatable")
	fl.BoolVar(&f.rng, "rng", false, "add a virtio entropy device")
	fl.StringArrayVar(&f.nets, "net", nil, "virtio network device: tap=NAME or bridge=NAME, optionally ,mac=02:..; repeatable")
	fl.Uint64Var(&f.vsock, "vsock", 0, "add a virtio socket device with this guest CID (3 or more; host side: AF_VSOCK, vhost-vsock)")
	fl.StringVar(&f.name, "name", "", "name of the VM (required with --detach)")
	fl.BoolVar(&f.detach, "detach", false, "run the VM in the background; manage it with hull vm ls, inspect, console, stop, kill")
	fl.BoolVar(&f.explain, "explain", false, "print the machine hull would build (memory layout, boot plan, devices) and exit")
	fl.StringVar(&f.daemon, "daemon-config", "", "")
	fl.MarkHidden("daemon-config")
	return cmd
}

func (f *vmRunFlags) vmConfig() (vmm.Config, error) {
	var cfg vmm.Config
	if f.config != "" {
		r, err := os.Open(f.config)
		if err != nil {
			return cfg, err
		}
		defer r.Close()
		if cfg, err = vmm.ParseConfig(r); err != nil {
			return cfg, fmt.Errorf("%s: %w", f.config, err)
		}
	}
	if f.kernel != "" {
		cfg.Kernel = f.kernel
	}
	if f.initrd != "" {
		cfg.Initrd = f.initrd
	}
	if f.append != "" {
		cfg.Cmdline = f.append
	}
	if f.cpus != 0 {
		cfg.CPUs = f.cpus
	}
	if f.memory != "" {
		mib, err := parseMiB(f.memory)
		if err != nil {
			return cfg, fmt.Errorf("--memory: %w", err)
		}
		cfg.MemoryMiB = mib
	}
	for _, d := range f.disks {
		path, opts, _ := strings.Cut(d, ",")
		disk := vmm.Disk{Path: path}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "":
			case "ro":
				disk.ReadOnly = true
			case "rw":
				disk.ReadOnly = false
			default:
				return cfg, fmt.Errorf("--disk %s: unknown option %q (ro or rw)", d, o)
			}
		}
		cfg.Disks = append(cfg.Disks, disk)
	}
	if f.rng {
		cfg.RNG = true
	}
	for _, n := range f.nets {
		var nc vmm.NetConfig
		for _, kv := range strings.Split(n, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "tap":
				nc.Tap = v
			case "bridge":
				nc.Bridge = v
			case "mac":
				nc.MAC = v
			default:
				return cfg, fmt.Errorf("--net %s: unknown key %q (tap, bridge or mac)", n, k)
			}
		}
		cfg.Net = append(cfg.Net, nc)
	}
	if f.vsock != 0 {
		cfg.VsockCID = f.vsock
	}
	if f.name != "" {
		cfg.Name = f.name
	}
	return cfg, cfg.Validate()
}

// parseMiB reads a size with an optional K, M, G or T suffix (binary
// units, M when none) and returns MiB.
func parseMiB(s string) (uint64, error) {
	mult := uint64(1 << 20)
	num := strings.TrimSuffix(strings.ToUpper(s), "B")
	switch {
	case strings.HasSuffix(num, "K"):
		mult, num = 1<<10, strings.TrimSuffix(num, "K")
	case strings.HasSuffix(num, "M"):
		num = strings.TrimSuffix(num, "M")
	case strings.HasSuffix(num, "G"):
		mult, num = 1<<30, strings.TrimSuffix(num, "G")
	case strings.HasSuffix(num, "T"):
		mult, num = 1<<40, strings.TrimSuffix(num, "T")
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a size like 512M or 2G", s)
	}
	bytes := n * mult
	if bytes/mult != n || bytes%(1<<20) != 0 {
		return 0, fmt.Errorf("%q is not a whole number of MiB", s)
	}
	return bytes >> 20, nil
}

// escapeKey (Ctrl-A) then 'x' ends the VM from an interactive console,
// as in qemu.
const escapeKey = 0x01

func runVM(ctx context.Context, cfg vmm.Config, stdout, stderr io.Writer) error {
	if err := kvm.ProbeHost(kvm.DefaultDevice).Err(); err != nil {
		return err
	}
	// SIGINT or SIGTERM press the guest's power button, as a host
	// shutting down asks a VM to; a second signal, or stopTimeout
	// without a power-off, stops the vCPUs. The handler is installed
	// before the guest runs, so no signal finds hull undefended.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, unix.SIGTERM)
	defer signal.Stop(sigs)
	vm, err := vmm.Start(ctx, cfg, vmm.WithConsole(stdout))
	if err != nil {
		return err
	}
	releaseSetupMemory(stderr)
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
		case <-time.After(stopTimeout):
		case <-vm.Done():
			return
		}
		vm.Stop()
	}()
	stdin := int(os.Stdin.Fd())
	if term.IsTerminal(stdin) {
		old, err := term.MakeRaw(stdin)
		if err == nil {
			defer term.Restore(stdin, old)
		}
		fmt.Fprintf(stderr, "hull: console attached; Ctrl-A x ends the VM\r\n")
		go forwardConsole(os.Stdin, vm, true)
	} else {
		go forwardConsole(os.Stdin, vm, false)
	}
	res := vm.Wait()
	if err := res.Err(); err != nil {
		fmt.Fprintf(stderr, "hull: %v\r\n", err)
		return &exitError{code: 1}
	}
	if res.Reason == vmm.Reboot {
		fmt.Fprintf(stderr, "hull: %s\r\n", res.Reason)
	}
	return nil
}

// vmGCPercent is the VM process's GOGC once the VM runs. Its live heap
// is about 500 KiB (the command line's flags, package tables, the VM's
// devices) and it allocates little (nothing per exit or console byte),
// so collecting at 25% growth rather than 100% costs little CPU and
// keeps the heap goal at 1 MiB (the runtime's floor is 4 MiB × GOGC/100)
// instead of letting garbage build up to 4 MiB between collections.
// (10% measured no smaller: what stays is the spans' unused space.)
const vmGCPercent = 25

// releaseSetupMemory is called once the VM runs: this process is the
// VM's from now on. It collects more often (vmGCPercent), and what
// setting the VM up took goes back to the kernel (vmm.ReleaseSetupMemory).
// A failure costs memory, not the VM: it is reported and the run goes on.
func releaseSetupMemory(stderr io.Writer) {
	debug.SetGCPercent(vmGCPercent)
	if err := vmm.ReleaseSetupMemory(); err != nil {
		fmt.Fprintf(stderr, "hull: %v\r\n", err)
	}
}

// forwardConsole copies host input to the guest's UART. Interactive input
// watches for the escape sequence, which stops the VM.
func forwardConsole(r io.Reader, vm *vmm.VM, interactive bool) {
	buf := make([]byte, 256)
	var esc escapeFilter
	for {
		n, err := r.Read(buf)
		in := buf[:n]
		if interactive {
			var quit bool
			if in, quit = esc.filter(in); quit {
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
				case <-afterConsoleRetry():
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// escapeFilter implements qemu's console escapes: Ctrl-A x quits, Ctrl-A
// Ctrl-A sends one Ctrl-A, Ctrl-A and anything else sends that byte. The
// state carries across reads.
type escapeFilter struct{ escaped bool }

func (e *escapeFilter) filter(in []byte) (out []byte, quit bool) {
	for _, b := range in {
		switch {
		case e.escaped && (b == 'x' || b == 'X'):
			return out, true
		case e.escaped:
			e.escaped = false
			out = append(out, b) // Ctrl-A Ctrl-A gives one Ctrl-A
		case b == escapeKey:
			e.escaped = true
		default:
			out = append(out, b)
		}
	}
	return out, false
}
