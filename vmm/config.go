package vmm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
)

// Config is what to build: a documented JSON object, decoded with unknown
// fields rejected.
//
//	{
//	  "name": "web1",
//	  "kernel": "/boot/vmlinuz-6.1.0-56-amd64",
//	  "initrd": "/tmp/initrd.img",
//	  "cmdline": "console=ttyS0 root=/dev/vda",
//	  "cpus": 2,
//	  "memory_mib": 512,
//	  "disks": [{"path": "/var/lib/vm/root.img", "read_only": false}],
//	  "rng": true
//	}
type Config struct {
	// Name identifies a detached VM; empty for foreground runs.
	Name string `json:"name,omitempty"`
	// Kernel is a bzImage (a distribution's vmlinuz) or an ELF vmlinux.
	Kernel string `json:"kernel"`
	// Initrd is an initramfs image, or empty.
	Initrd string `json:"initrd,omitempty"`
	// Cmdline is the kernel command line; empty means DefaultCmdline.
	Cmdline string `json:"cmdline,omitempty"`
	// CPUs is the number of vCPUs; 0 means 1.
	CPUs int `json:"cpus,omitempty"`
	// MemoryMiB is guest RAM in MiB; 0 means 512.
	MemoryMiB uint64 `json:"memory_mib,omitempty"`
	// Disks are virtio block devices, /dev/vda, /dev/vdb, … in order.
	Disks []Disk `json:"disks,omitempty"`
	// RNG adds a virtio entropy device fed from the host's getrandom(2).
	RNG bool `json:"rng,omitempty"`
	// Net are virtio network devices, eth0, eth1, … in order.
	Net []NetConfig `json:"net,omitempty"`
	// VsockCID, when not 0, adds a virtio socket device with this guest
	// context ID (3 or more), served by the host's vhost-vsock: host
	// programs reach the guest with AF_VSOCK at this CID, the guest
	// reaches the host at CID 2.
	VsockCID uint64 `json:"vsock_cid,omitempty"`
}

// NetConfig is a virtio network device on a tap interface: an existing
// or new tap named Tap, or, with Bridge, a new tap hull creates and
// attaches to that bridge.
type NetConfig struct {
	Tap    string `json:"tap,omitempty"`
	Bridge string `json:"bridge,omitempty"`
	// MAC is the guest's address ("02:48:55:4c:4c:01"); empty means one
	// derived from the VM's name and the device's index.
	MAC string `json:"mac,omitempty"`
}

// Disk is a virtio block device backed by a raw image file.
type Disk struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// DefaultCmdline sends the console to the first serial port and turns a
// guest panic into a reboot, which ends the run instead of hanging it.
const DefaultCmdline = "console=ttyS0 panic=-1"

// Defaults.
const (
	DefaultCPUs      = 1
	DefaultMemoryMiB = 512
	// MaxCPUs is bounded by the MADT's 8-bit APIC IDs and by the IOAPIC ID
	// that follows them.
	MaxCPUs = 254
	// MaxDevices is the IOAPIC pins left for virtio devices (GSI 5-22;
	// 23 is the power button's).
	MaxDevices = 18
)

// validName reports whether name is 1-64 letters, digits, '.', '_' or
// '-', starting with a letter or digit: a name that is safe as a
// directory under hull's state root. (A loop, not a regexp: compiling
// one at package initialisation cost every hull process about a
// millisecond.)
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// ParseConfig decodes a JSON Config, rejecting unknown fields.
func ParseConfig(r io.Reader) (Config, error) {
	var c Config
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("vm config: %w", err)
	}
	return c, nil
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.CPUs == 0 {
		c.CPUs = DefaultCPUs
	}
	if c.MemoryMiB == 0 {
		c.MemoryMiB = DefaultMemoryMiB
	}
	if c.Cmdline == "" {
		c.Cmdline = DefaultCmdline
	}
	return c
}

// Validate reports every problem with its field path.
func (c Config) Validate() error {
	var errs []error
	if c.Name != "" && !validName(c.Name) {
		errs = append(errs, fmt.Errorf("name: %q must be 1-64 letters, digits, '.', '_' or '-'", c.Name))
	}
	if c.Kernel == "" {
		errs = append(errs, errors.New("kernel: required"))
	}
	if c.CPUs < 0 || c.CPUs > MaxCPUs {
		errs = append(errs, fmt.Errorf("cpus: %d is outside 1-%d", c.CPUs, MaxCPUs))
	}
	if c.MemoryMiB != 0 && (c.MemoryMiB < 32 || c.MemoryMiB > 1<<20) {
		errs = append(errs, fmt.Errorf("memory_mib: %d is outside 32 MiB-1 TiB", c.MemoryMiB))
	}
	devices := len(c.Disks)
	for i, d := range c.Disks {
		if d.Path == "" {
			errs = append(errs, fmt.Errorf("disks[%d].path: required", i))
		}
	}
	if c.RNG {
		devices++
	}
	if c.VsockCID != 0 {
		devices++
		if c.VsockCID <= 2 || c.VsockCID >= 0xffffffff {
			errs = append(errs, fmt.Errorf("vsock_cid: %d must be 3 or more and below 2^32-1", c.VsockCID))
		}
	}
	for i, n := range c.Net {
		devices++
		if (n.Tap == "") == (n.Bridge == "") {
			errs = append(errs, fmt.Errorf("net[%d]: exactly one of tap and bridge", i))
		}
		if len(n.Tap) > 15 {
			errs = append(errs, fmt.Errorf("net[%d].tap: %q is longer than an interface name (15)", i, n.Tap))
		}
		if n.MAC != "" {
			if hw, err := net.ParseMAC(n.MAC); err != nil || len(hw) != 6 {
				errs = append(errs, fmt.Errorf("net[%d].mac: %q is not an Ethernet address", i, n.MAC))
			} else if hw[0]&1 != 0 {
				errs = append(errs, fmt.Errorf("net[%d].mac: %q is a multicast address", i, n.MAC))
			}
		}
	}
	if devices > MaxDevices {
		errs = append(errs, fmt.Errorf("disks: %d virtio devices, at most %d", devices, MaxDevices))
	}
	return errors.Join(errs...)
}

// Option tunes how Start behaves.
type Option func(*options) error

type options struct {
	console io.Writer
	logger  *slog.Logger
}

// WithConsole sends the guest's serial console to w. Default: discarded.
func WithConsole(w io.Writer) Option {
	return func(o *options) error { o.console = w; return nil }
}

// WithLogger logs the VMM's steps to l. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{console: io.Discard, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}
