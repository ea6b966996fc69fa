package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LoadSpec reads bundle/config.json.
//
// Unknown fields are accepted, as the OCI runtime spec asks and as runc
// does: clients add their own (podman writes annotations-like extras, and
// newer spec versions add fields that older runtimes must tolerate). What
// hull refuses is an unsupported value in a field it knows; that is
// Validate's job, and it names the field.
func LoadSpec(bundle string) (*specs.Spec, error) {
	file := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bundle %s has no config.json: %w", bundle, err)
		}
		return nil, err
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

// ParseSpec decodes a config.json document. A syntax or type error names
// the byte offset or the field, as encoding/json reports it.
func ParseSpec(b []byte) (*specs.Spec, error) {
	var d specDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, specError("", err)
	}
	s := d.Spec
	for _, o := range []struct {
		name string
		raw  json.RawMessage
		into any
	}{{"solaris", d.Solaris, &s.Solaris}, {"windows", d.Windows, &s.Windows}, {"vm", d.VM, &s.VM}, {"zos", d.ZOS, &s.ZOS}, {"freebsd", d.FreeBSD, &s.FreeBSD}} {
		if len(o.raw) == 0 || string(o.raw) == "null" {
			continue
		}
		if err := json.Unmarshal(o.raw, o.into); err != nil {
			return nil, specError(o.name+".", err)
		}
	}
	return &s, nil
}

func specError(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if field := strings.TrimSuffix(prefix+te.Field, "."); field != "" {
			return fmt.Errorf("%s: cannot be a JSON %s (want %s)", field, te.Value, te.Type)
		}
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// specDoc is config.json as hull decodes and encodes it: a specs.Spec
// whose sections for other platforms (which Validate refuses) stay JSON.
// encoding/json builds its field tables, and an encoder for each field,
// for every type that a type it decodes or encodes reaches, once per
// process, and in a fresh one that is most of the cost: those sections
// reach about a third of the runtime-spec's types (1.5-2 ms of a first
// decode of 5-7 ms on the development host). The rare config that has
// one pays for it.
type specDoc struct {
	specs.Spec
	Solaris json.RawMessage `json:"solaris,omitempty"`
	Windows json.RawMessage `json:"windows,omitempty"`
	VM      json.RawMessage `json:"vm,omitempty"`
	ZOS     json.RawMessage `json:"zos,omitempty"`
	FreeBSD json.RawMessage `json:"freebsd,omitempty"`
}

// encodable returns what to encode for s: a specDoc when s has no
// section for another platform, so that encoding reaches no more types
// than ParseSpec did.
func encodable(s *specs.Spec) any {
	if s == nil || s.Solaris != nil || s.Windows != nil || s.VM != nil || s.ZOS != nil || s.FreeBSD != nil {
		return s
	}
	return &specDoc{Spec: *s}
}

// DefaultSpec returns the config.json that "runc spec" writes: busybox's
// sh on a read-only rootfs/ with a terminal, the five default namespaces
// (plus user and a single-id mapping of the caller when rootless), the
// usual /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and
// /sys/fs/cgroup mounts, the masked and read-only paths of /proc and /sys,
// and three capabilities.
//
// With rootless set the spec runs unchanged as an unprivileged user: a user
// namespace mapping the caller's uid and gid to root, no network namespace
// (an unprivileged user can create one, but it would have no links), /sys
// bind-mounted rather than mounted (sysfs needs a network namespace the
// user owns), no cgroup mount, and no device cgroup rules.
func DefaultSpec(rootless bool) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: true,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  append([]string(nil), caps...),
				Effective: append([]string(nil), caps...),
				Permitted: append([]string(nil), caps...),
				Ambient:   append([]string(nil), caps...),
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "hull",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi",
				"/proc/asound",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/sys/firmware",
				"/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
		},
	}
	if rootless {
		makeRootless(s, uint32(os.Geteuid()), uint32(os.Getegid()))
	}
	return s
}

// makeRootless adapts a default spec for an unprivileged caller, as
// "runc spec --rootless" does.
func makeRootless(s *specs.Spec, uid, gid uint32) {
	l := s.Linux
	l.Resources = nil
	var ns []specs.LinuxNamespace
	for _, n := range l.Namespaces {
		if n.Type != specs.NetworkNamespace {
			ns = append(ns, n)
		}
	}
	l.Namespaces = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace})
	l.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uid, Size: 1}}
	l.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: gid, Size: 1}}

	var mounts []specs.Mount
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/sys/fs/cgroup":
			continue
		case "/sys":
			m = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		case "/dev/pts":
			// gid=5 (tty) is not mapped into a single-id namespace.
			var opts []string
			for _, o := range m.Options {
				if o != "gid=5" {
					opts = append(opts, o)
				}
			}
			m.Options = opts
		}
		mounts = append(mounts, m)
	}
	s.Mounts = mounts
}
