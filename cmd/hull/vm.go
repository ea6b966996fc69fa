package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hullrt/hull/internal/cli"
	"github.com/hullrt/hull/vmm"
	"github.com/hullrt/hull/vmm/kvm"
	"github.com/hullrt/hull/vmm/vmproc"
)

func newVMCommand(g *cli.Options) *cobra.Command {
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

func newVMRunCommand(g *cli.Options) *cobra.Command {
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
				// The VM process, where there is no hull-vmm.
				if code := vmproc.RunDetached(f.daemon, g.Root); code != 0 {
					return &cli.ExitError{Code: code}
				}
				return nil
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
			if err := kvm.ProbeHost(kvm.DefaultDevice).Err(); err != nil {
				return err
			}
			if f.detach {
				self, err := os.Executable()
				if err != nil {
					return err
				}
				if err := vmproc.Detach(cfg, g.Root, []string{self, "--root", g.Root, "vm", "run", "--daemon-config"}); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), cfg.Name)
				return nil
			}
			// The VM's process is hull-vmm (package vmproc); only where
			// there is none does hull run the VM itself.
			if err := vmproc.Exec(cfg); !errors.Is(err, vmproc.ErrNoBinary) {
				return err
			}
			if code := vmproc.RunForeground(cmd.Context(), cfg, os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				return &cli.ExitError{Code: code}
			}
			return nil
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
