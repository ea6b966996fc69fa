package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// PlanOptions are the inputs of NewPlan besides the spec: runc's create
// flags and the few host facts that change the steps.
type PlanOptions struct {
	ID           string
	Bundle       string // absolute
	NoPivot      bool   // --no-pivot
	NoNewKeyring bool   // --no-new-keyring
	PreserveFDs  int    // --preserve-fds
	// ListenFDs is systemd's $LISTEN_FDS: sockets at fds 3.. passed on
	// before the preserved ones, announced to the program with LISTEN_FDS
	// and LISTEN_PID=1, as runc does.
	ListenFDs int
}

// defaultDevices are the nodes every container's /dev gets (the OCI
// runtime spec's list), before linux.devices.
var defaultDevices = []Device{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, Mode: 0o666},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, Mode: 0o666},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, Mode: 0o666},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, Mode: 0o666},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, Mode: 0o666},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, Mode: 0o666},
}

var devSymlinks = []Symlink{
	{Target: "/proc/self/fd", Link: "/dev/fd"},
	{Target: "/proc/self/fd/0", Link: "/dev/stdin"},
	{Target: "/proc/self/fd/1", Link: "/dev/stdout"},
	{Target: "/proc/self/fd/2", Link: "/dev/stderr"},
	{Target: "pts/ptmx", Link: "/dev/ptmx"},
}

// NewPlan turns a validated spec into the plan that creates it. It is a
// pure function: the same spec and options give the same plan.
func NewPlan(s *specs.Spec, o PlanOptions) (*Plan, error) {
	if err := Validate(s); err != nil {
		return nil, err
	}
	p := &Plan{
		ID:          o.ID,
		Bundle:      o.Bundle,
		Rootfs:      s.Root.Path,
		CgroupsPath: cgroupsPathOf(s, o.ID),
		Resources:   s.Linux.Resources,
		Hooks:       s.Hooks,
	}
	if !filepath.IsAbs(p.Rootfs) {
		p.Rootfs = filepath.Join(o.Bundle, p.Rootfs)
	}
	l := s.Linux
	newNS := map[specs.LinuxNamespaceType]bool{}
	var timeNS *TimeNamespace
	for _, n := range l.Namespaces {
		switch {
		case n.Path != "":
			p.Join = append(p.Join, JoinNamespace{Type: n.Type, Path: n.Path})
		case n.Type == specs.TimeNamespace:
			timeNS = &TimeNamespace{Offsets: l.TimeOffsets}
			newNS[n.Type] = true
		case n.Type == specs.CgroupNamespace:
			newNS[n.Type] = true
		default:
			p.Clone |= nsFlag[n.Type]
			newNS[n.Type] = true
		}
	}
	p.TimeNS = timeNS
	p.NSEnter = nsenterEnv(p.Join) != "" || timeNS != nil
	if newNS[specs.UserNamespace] {
		p.UIDMappings, p.GIDMappings = l.UIDMappings, l.GIDMappings
	}
	_, userNS := newNS[specs.UserNamespace]
	for _, j := range p.Join {
		if j.Type == specs.UserNamespace {
			userNS = true
		}
	}

	add := func(st ...Step) { p.Steps = append(p.Steps, st...) }
	proc := s.Process

	// The session comes first: a controlling terminal can only be taken
	// by a session leader.
	add(&Setsid{})
	if newNS[specs.CgroupNamespace] {
		add(&UnshareCgroup{})
	}

	// rootfs: propagation, then every mount below the rootfs, while the
	// host's tree is still reachable for bind sources.
	//
	// Without a mount namespace (none new, none joined) the container
	// shares the host's: "/" is left as it is, the rootfs bind is made
	// private at once so that the mounts below it reach no other
	// namespace, the root changes by chroot (pivot_root would move the
	// host's own root), and delete detaches the bind with everything on
	// it (releaseRootfs).
	_, mountNS := newNS[specs.MountNamespace]
	for _, j := range p.Join {
		mountNS = mountNS || j.Type == specs.MountNamespace
	}
	if mountNS {
		add(&SetPropagation{Target: "/", Flags: rootfsPropagation[l.RootfsPropagation] | unix.MS_REC})
	}
	add(&BindRootfs{Rootfs: p.Rootfs})
	if !mountNS {
		add(&SetPropagation{Target: p.Rootfs, Flags: unix.MS_PRIVATE | unix.MS_REC})
	}
	devBound := false
	for _, m := range s.Mounts {
		st, err := planMount(m, o.Bundle)
		if err != nil {
			return nil, err
		}
		if cg, ok := st.(*MountCgroup); ok {
			cg.CgroupNS = newNS[specs.CgroupNamespace]
		}
		if mm, ok := st.(*Mount); ok && path.Clean(m.Destination) == "/dev" && mm.isBind() {
			devBound = true
		}
		add(st)
	}
	// A bind-mounted /dev is the host's (or the caller's): it already
	// has its nodes. Otherwise /dev is ours to fill.
	if !devBound {
		devs := map[string]Device{}
		for _, d := range defaultDevices {
			devs[d.Path] = d
		}
		for _, d := range l.Devices {
			mode := os.FileMode(0o666)
			if d.FileMode != nil {
				mode = *d.FileMode
			}
			dev := Device{Path: path.Clean(d.Path), Type: d.Type, Major: d.Major, Minor: d.Minor, Mode: mode}
			if d.UID != nil {
				dev.UID = *d.UID
			}
			if d.GID != nil {
				dev.GID = *d.GID
			}
			devs[dev.Path] = dev
		}
		paths := make([]string, 0, len(devs))
		for k := range devs {
			paths = append(paths, k)
		}
		sort.Strings(paths)
		for _, k := range paths {
			d := devs[k]
			// mknod is refused in a user namespace: bind the host's node.
			d.Bind = userNS
			add(&d)
		}
		for _, sl := range devSymlinks {
			add(&sl)
		}
	} else {
		for _, d := range l.Devices {
			dev := Device{Path: path.Clean(d.Path), Type: d.Type, Major: d.Major, Minor: d.Minor, Mode: 0o666, Bind: userNS}
			if d.FileMode != nil {
				dev.Mode = *d.FileMode
			}
			add(&dev)
		}
	}

	// Hooks that see the container before its root changes.
	//lint:ignore SA1019 prestart is deprecated, but still in the spec, and runc runs it
	if s.Hooks != nil && (len(s.Hooks.Prestart) > 0 || len(s.Hooks.CreateRuntime) > 0) {
		add(&SyncHooks{})
	}
	for _, h := range hookList(s.Hooks, "createContainer") {
		add(&RunHook{Kind: "createContainer", Hook: h})
	}

	switch {
	case !mountNS:
		add(&Chroot{Dir: p.Rootfs})
	case o.NoPivot:
		add(&MoveRoot{Rootfs: p.Rootfs})
	default:
		pr := &PivotRoot{Rootfs: p.Rootfs}
		if prop := rootfsPropagation[l.RootfsPropagation]; prop&unix.MS_SHARED != 0 {
			pr.Propagation = prop
		}
		add(pr)
	}
	// The pty comes from the container's own devpts instance (mounted
	// above), so that ttyname(3) inside the container names it.
	if proc.Terminal {
		c := &Console{}
		if proc.ConsoleSize != nil {
			c.Width, c.Height = proc.ConsoleSize.Width, proc.ConsoleSize.Height
		}
		add(c)
	}
	if s.Hostname != "" {
		add(&Sethostname{Name: s.Hostname})
	}
	if s.Domainname != "" {
		add(&Setdomainname{Name: s.Domainname})
	}
	keys := make([]string, 0, len(l.Sysctl))
	for k := range l.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(&Sysctl{Key: k, Value: l.Sysctl[k]})
	}
	for _, m := range l.MaskedPaths {
		add(&MaskPath{Path: m})
	}
	for _, r := range l.ReadonlyPaths {
		add(&ReadonlyPath{Path: r})
	}
	// Masks and read-only paths come after sysctl, which writes into
	// /proc/sys before it becomes read-only, and a read-only root after
	// every write into the rootfs.
	if s.Root.Readonly {
		add(&ReadonlyRoot{})
	}

	// The process: limits and scheduling while the init is still root
	// with every capability (raising a limit, a negative oom_score_adj and
	// a real-time policy all need privileges the program may not keep).
	for _, r := range proc.Rlimits {
		add(&Setrlimit{Name: r.Type, Resource: rlimitNumber[r.Type], Soft: r.Soft, Hard: r.Hard})
	}
	if proc.OOMScoreAdj != nil {
		add(&OOMScoreAdj{Value: *proc.OOMScoreAdj})
	}
	if !o.NoNewKeyring {
		add(&JoinKeyring{Name: "_ses." + o.ID})
	}
	if l.Personality != nil {
		add(&Personality{Domain: string(l.Personality.Domain)})
	}
	if proc.IOPriority != nil {
		add(&IOPriority{Class: proc.IOPriority.Class, Priority: proc.IOPriority.Priority})
	}
	if proc.Scheduler != nil {
		add(&Scheduler{Sched: *proc.Scheduler})
	}
	var seccomp *Seccomp
	if l.Seccomp != nil {
		seccomp = &Seccomp{Spec: l.Seccomp}
		if err := compileSeccomp(seccomp); err != nil {
			return nil, fmt.Errorf("linux.seccomp: %w", err)
		}
		if seccomp.Notify && l.Seccomp.ListenerPath == "" {
			return nil, errors.New("linux.seccomp.listenerPath: is required when a rule uses SCMP_ACT_NOTIFY")
		}
	}
	// Before any seccomp filter, which may not allow close_range.
	add(&CloseFDs{First: 3 + o.ListenFDs + o.PreserveFDs})
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so it
	// must happen before the capability sets shrink (runc's order too).
	if seccomp != nil && !proc.NoNewPrivileges {
		add(seccomp)
	}
	processSteps(add, proc, userNS)
	// A notifying filter's fd must reach the parent, which exits once
	// the init is ready: load it before.
	if seccomp != nil && proc.NoNewPrivileges && seccomp.Notify {
		add(seccomp)
		seccomp = nil
	}
	add(&SignalReady{})
	add(&WaitStart{})
	for _, h := range hookList(s.Hooks, "startContainer") {
		add(&RunHook{Kind: "startContainer", Hook: h})
	}
	// As close to execve as possible, so that the profile need not allow
	// hull's own setup.
	if seccomp != nil && proc.NoNewPrivileges {
		add(seccomp)
	}
	env := proc.Env
	if o.ListenFDs > 0 {
		env = append(append([]string(nil), env...), fmt.Sprintf("LISTEN_FDS=%d", o.ListenFDs), "LISTEN_PID=1")
	}
	add(&Exec{Args: proc.Args, Env: env})
	return p, nil
}

// processSteps adds the credential steps shared by create and exec:
// bounding set, uid/gid, umask, cwd, capability sets, no_new_privs.
func processSteps(add func(...Step), proc *specs.Process, userNS bool) {
	if proc.Capabilities != nil {
		add(&DropBounding{Keep: proc.Capabilities.Bounding})
	}
	add(&SetUser{UID: proc.User.UID, GID: proc.User.GID, Groups: proc.User.AdditionalGids, SetgroupsDenied: userNS})
	if proc.User.Umask != nil {
		add(&Umask{Mask: *proc.User.Umask})
	}
	add(&Chdir{Dir: proc.Cwd})
	caps := specs.LinuxCapabilities{}
	if proc.Capabilities != nil {
		caps = *proc.Capabilities
	}
	add(&Capabilities{Caps: caps})
	if proc.NoNewPrivileges {
		add(&NoNewPrivs{})
	}
}

// planMount turns one config.json mount into its step.
func planMount(m specs.Mount, bundle string) (Step, error) {
	o := parseMountOptions(m.Options)
	dest := path.Clean(m.Destination)
	if m.Type == "cgroup" || m.Type == "cgroup2" {
		return &MountCgroup{Dest: dest, Flags: o.Flags}, nil
	}
	st := &Mount{
		Source:      m.Source,
		Dest:        dest,
		Type:        m.Type,
		Flags:       o.Flags,
		Data:        o.data(),
		Propagation: o.Propagation,
		RecSet:      o.RecSet,
		RecClr:      o.RecClr,
		TmpCopyUp:   o.TmpCopyUp,
	}
	if m.Type == "bind" {
		st.Flags |= unix.MS_BIND
	}
	if len(m.UIDMappings) > 0 {
		st.IDMap = &IDMap{UIDMappings: m.UIDMappings, GIDMappings: m.GIDMappings, Recursive: o.RecIDMap || st.Flags&unix.MS_REC != 0}
	}
	if st.isBind() {
		// A relative source is relative to the bundle, as in runc.
		if !path.IsAbs(st.Source) {
			st.Source = path.Join(bundle, st.Source)
		}
		// mount(2) ignores every flag but MS_REC with MS_BIND: the
		// others take a remount of the new bind mount.
		rest := st.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
		st.Flags &= unix.MS_BIND | unix.MS_REC
		if rest != 0 {
			st.Remount = unix.MS_BIND | unix.MS_REMOUNT | rest
		}
		st.Type = ""
	}
	return st, nil
}

// cgroupsPathOf is linux.cgroupsPath, defaulting as runc does to /<id>.
func cgroupsPathOf(s *specs.Spec, id string) string {
	if s.Linux != nil && s.Linux.CgroupsPath != "" {
		return s.Linux.CgroupsPath
	}
	return "/" + id
}
