package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/image/bundle"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/rootfs"
	"github.com/hullrt/hull/image/store"
	"github.com/hullrt/hull/netns"
	"github.com/hullrt/hull/runtime"
	"github.com/hullrt/hull/runtime/capability"
)

// Pull returns the stored image ref names, pulling it first when the store
// does not have it. platform ("os/arch[/variant]", "" for this machine's)
// chooses from a multi-platform index.
func (e *Engine) Pull(ctx context.Context, ref, platform string) (store.Image, error) {
	im, err := e.images.Lookup(ref)
	if err == nil && (platform == "" || im.Platform == "" || im.Platform == platform) {
		return im, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Image{}, err
	}
	opts := e.pullOpts
	if platform != "" {
		opts = append(slices.Clone(opts), pull.WithPlatform(platform))
	}
	return pull.Pull(ctx, e.images, ref, opts...)
}

// Create makes a container from cfg, pulling its image when missing, and
// leaves it created: Start runs it. On error nothing is left behind.
func (e *Engine) Create(ctx context.Context, cfg ContainerConfig) (_ *Container, err error) {
	if cfg.Image == "" {
		return nil, errors.New("image: empty reference")
	}
	volumes, vuses, verr := parseVolumes(cfg.Volumes)
	var ports []netns.PortMapping
	var perrs []error
	for i, p := range cfg.Ports {
		pm, err := netns.ParsePort(p)
		if err != nil {
			perrs = append(perrs, fmt.Errorf("ports[%d]: %w", i, err))
		}
		ports = append(ports, pm...)
	}
	switch kind, other := netns.SplitMode(cfg.Network); kind {
	case "", netns.ModeBridge:
	case netns.ModeNone, netns.ModeHost, "container":
		if len(ports) > 0 {
			perrs = append(perrs, fmt.Errorf("ports: publishing needs network bridge, not %s", cfg.Network))
		}
		if kind == "container" {
			// Joined by ID: a later container may take the name.
			id, err := e.resolve(other)
			if err != nil {
				perrs = append(perrs, fmt.Errorf("network: %w", err))
			}
			cfg.Network = "container:" + id
		}
	default:
		perrs = append(perrs, fmt.Errorf("network: %q is not none, host, bridge or container:NAME", cfg.Network))
	}
	if _, err := parseRestart(cfg.Restart); err != nil {
		perrs = append(perrs, err)
	}
	userns, autoNS, err := parseUserNS(cfg.UserNS)
	if err != nil {
		perrs = append(perrs, err)
	}
	if err := errors.Join(append([]error{verr}, perrs...)...); err != nil {
		return nil, err
	}

	im, err := e.Pull(ctx, cfg.Image, cfg.Platform)
	if err != nil {
		return nil, err
	}
	cb, err := e.images.Blob(im.Config.Digest)
	if err != nil {
		return nil, err
	}
	var icfg v1.ConfigFile
	if err := json.Unmarshal(cb, &icfg); err != nil {
		return nil, fmt.Errorf("image config %s: %w", im.Config.Digest, err)
	}
	layers, err := e.images.LayerDirs(im)
	if err != nil {
		return nil, err
	}
	volumes, vuses = imageVolumes(icfg.Config.Volumes, volumes, vuses)

	// The name is checked and the directory made under one lock, so two
	// runs with the same --name cannot both win.
	lk, err := flock(e.containersDir(), opLock, unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer lk.Close()
	name := cfg.Name
	if name == "" {
		name = e.friendlyName()
	} else if err := checkName(name); err != nil {
		return nil, err
	} else if id := e.nameOwner(name); id != "" {
		return nil, fmt.Errorf("name %q is already used by container %.12s", name, id)
	}

	if autoNS {
		if userns, err = e.allocateUserNS(); err != nil {
			return nil, err
		}
	}
	id := newID()
	dir := e.dir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = rootfs.Unmount(filepath.Join(dir, "rootfs"))
			os.RemoveAll(dir)
		}
	}()
	// The root of the overlay takes its owner and mode from upper: 0755,
	// or users other than root could not reach any path in the container.
	for _, d := range []string{"rootfs", "upper", "work", "bundle"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	newVols, err := e.ensureVolumes(volumes, vuses)
	defer func() {
		if err != nil {
			for _, u := range newVols {
				_ = os.RemoveAll(filepath.Join(e.volumesDir(), u.name))
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	if userns != nil {
		// The container's root owns its / and must reach it.
		if err := os.Chown(filepath.Join(dir, "upper"), int(userns.HostID), int(userns.HostID)); err != nil {
			return nil, err
		}
		if err := searchable(dir, "/"); err != nil {
			return nil, fmt.Errorf("userNS: %w", err)
		}
	}
	spec, err := e.buildSpec(id, dir, cfg, &icfg, layers, volumes, userns, newVols)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle", "config.json"), b, 0o600); err != nil {
		return nil, err
	}
	stop := spec.Annotations[bundle.AnnotationStopSignal]
	if cfg.StopSignal != "" {
		stop = cfg.StopSignal
	}
	if stop == "" {
		stop = "SIGTERM"
	}
	if _, err := parseSignal(stop); err != nil {
		return nil, fmt.Errorf("stop signal: %w", err)
	}
	command := spec.Process.Args
	if cfg.Init {
		command = command[slices.Index(command, "--")+1:]
	}
	c := &Container{
		ID: id, Name: name, Created: time.Now().UTC(), ImageDigest: im.Digest,
		Command: command, Config: cfg, Ports: ports, StopSignal: stop,
		Dir: dir, LogPath: filepath.Join(dir, logFile), UserNS: userns,
		State: ContainerState{Status: ContainerCreated},
	}
	c.Config.Name = name
	for _, u := range vuses {
		c.Volumes = append(c.Volumes, u.name)
	}
	if err := writeRecord(c); err != nil {
		return nil, err
	}
	return c, nil
}

// buildSpec is config.json for the container: runtime.DefaultSpec made into
// what docker users expect (docker's capability set, a writable root, no
// terminal), then the image config (bundle.Spec), then cfg.
func (e *Engine) buildSpec(id, dir string, cfg ContainerConfig, icfg *v1.ConfigFile, layers []string, volumes []specs.Mount, userns *UserNSMapping, seed []volumeUse) (*specs.Spec, error) {
	base := runtime.DefaultSpec(false)
	base.Process.Terminal = cfg.Tty
	if !cfg.Tty { // TERM says what terminal there is: none
		base.Process.Env = slices.DeleteFunc(base.Process.Env, func(kv string) bool { return strings.HasPrefix(kv, "TERM=") })
	}
	base.Process.NoNewPrivileges = false
	caps := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
	caps, err := capabilities(caps, cfg)
	if err != nil {
		return nil, err
	}
	base.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
	}
	base.Process.NoNewPrivileges = cfg.NoNewPrivileges
	// As docker's: the open files limit is what the monitor may give, in
	// full.
	var nofile unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		return nil, os.NewSyscallError("getrlimit", err)
	}
	base.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile.Max, Soft: nofile.Max}}
	base.Root = &specs.Root{Path: filepath.Join(dir, "rootfs"), Readonly: cfg.ReadOnly}
	if cfg.Privileged {
		base.Linux.MaskedPaths = nil
		base.Linux.ReadonlyPaths = nil
		for i, m := range base.Mounts {
			if m.Destination == "/sys" {
				base.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
	}
	base.Hostname = id[:12]
	if cfg.Hostname != "" {
		base.Hostname = cfg.Hostname
	}

	ic := *icfg
	if cfg.Entrypoint != nil {
		ic.Config.Entrypoint = cfg.Entrypoint
		ic.Config.Cmd = nil
	}
	if len(cfg.Cmd) > 0 {
		ic.Config.Cmd = cfg.Cmd
	}
	if cfg.WorkingDir != "" {
		ic.Config.WorkingDir = cfg.WorkingDir
	}
	if cfg.User != "" {
		ic.Config.User = cfg.User
	}
	// The user database is read from the image as the container will see
	// it: its layers overlaid, read-only, for the time of the lookup.
	merged := filepath.Join(dir, "rootfs")
	m, err := rootfs.Overlay(layers, "", "")
	if err != nil {
		return nil, err
	}
	if err := m.Mount(merged); err != nil {
		return nil, fmt.Errorf("mounting the image to read its users: %w", err)
	}
	s, err := bundle.Spec(&ic, merged, base)
	for _, u := range seed {
		if err == nil && u.copy {
			err = e.seedVolume(merged, u)
		}
	}
	if uerr := rootfs.Unmount(merged); uerr != nil && err == nil {
		err = uerr
	}
	if err != nil {
		return nil, err
	}
	if len(s.Process.Args) == 0 {
		return nil, errors.New("no command: the image has no Entrypoint or Cmd, and none was given")
	}
	s.Process.Env = mergeEnv(s.Process.Env, cfg.Env)
	s.Mounts = append(s.Mounts, volumes...)
	if cfg.Init {
		mounts, args, err := reaperSpec(e.monitor[0], e.monitor[1:], s.Process.Args)
		if err != nil {
			return nil, err
		}
		s.Mounts = append(s.Mounts, mounts...)
		s.Process.Args = args
	}
	for _, t := range cfg.Tmpfs {
		dst, opts, _ := strings.Cut(t, ":")
		o := []string{"nosuid", "nodev"}
		if opts != "" {
			o = append(o, strings.Split(opts, ",")...)
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: o})
	}
	for k, v := range cfg.Labels {
		s.Annotations[k] = v
	}

	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if cfg.Seccomp != nil {
		if s.Linux.Seccomp, err = cfg.Seccomp.resolve(caps, kernelRelease()); err != nil {
			return nil, fmt.Errorf("seccomp: %w", err)
		}
	}
	// Below the monitor's own cgroup (relative path), one per container.
	s.Linux.CgroupsPath = "hull-" + id
	if cfg.Memory > 0 || cfg.PidsLimit > 0 || cfg.CPUs > 0 {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if cfg.Memory > 0 {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &cfg.Memory}
		}
		if cfg.PidsLimit > 0 {
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &cfg.PidsLimit}
		}
		if cfg.CPUs > 0 {
			period := uint64(100000)
			quota := int64(cfg.CPUs * float64(period))
			s.Linux.Resources.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
		}
	}
	// The network namespace is the monitor's to fill in at each start
	// (netns.Setup); mode host shares the host's.
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace && cfg.Network == netns.ModeHost {
			continue
		}
		ns = append(ns, n)
	}
	s.Linux.Namespaces = ns
	if userns != nil {
		withUserNS(s, userns)
	}
	if err := runtime.Validate(s); err != nil {
		return nil, err
	}
	return s, nil
}

// capabilities is base changed by cfg's Privileged, CapAdd and CapDrop
// (dropped first, then added, so that "--cap-drop ALL --cap-add X" leaves
// X, as with docker), in the kernel's order.
func capabilities(base []string, cfg ContainerConfig) ([]string, error) {
	set, err := capability.Parse(base)
	if err != nil {
		return nil, err
	}
	if cfg.Privileged {
		set = capability.All()
	}
	var errs []error
	change := func(field string, names []string, add bool) {
		for i, n := range names {
			var c capability.Set
			if strings.EqualFold(n, "ALL") {
				c = capability.All()
			} else {
				name := strings.ToUpper(n)
				if !strings.HasPrefix(name, "CAP_") {
					name = "CAP_" + name
				}
				one, err := capability.ParseCap(name)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
					continue
				}
				c = capability.Of(one)
			}
			if add {
				set |= c
			} else {
				set &^= c
			}
		}
	}
	change("capDrop", cfg.CapDrop, false)
	change("capAdd", cfg.CapAdd, true)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := []string{}
	for _, c := range set.Caps() {
		out = append(out, c.String())
	}
	return out, nil
}

// mergeEnv returns base with each KEY=VALUE of add replacing base's KEY.
func mergeEnv(base, add []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// checkName accepts docker's names: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
func checkName(n string) error {
	for i, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && (r == '_' || r == '.' || r == '-')
		if !ok {
			return fmt.Errorf("name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed", n)
		}
	}
	if len(n) > 128 {
		return fmt.Errorf("name %q: longer than 128 characters", n)
	}
	return nil
}

// parseSignal reads "SIGTERM", "TERM" or "15".
func parseSignal(s string) (unix.Signal, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}
