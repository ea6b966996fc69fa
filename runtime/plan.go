package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A Plan is what hull will ask of the kernel to create one container: the
// namespaces the parent clones or joins, the uid/gid maps it writes, the
// cgroup it builds, and the ordered steps the container's init runs
// before it execs the user's program.
//
// The same Plan value is printed by --explain, checked by golden tests and
// sent (as JSON) to the init, which runs Steps like a script.
type Plan struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Rootfs string `json:"rootfs"`

	// Clone holds the namespaces the init is cloned into.
	Clone CloneFlags `json:"clone"`
	// Join holds the namespaces the init enters by path. All but mnt and
	// user are joined by the forking thread of the parent (setns affects
	// the caller's future children); mnt and user are entered by the
	// init's C constructor before the Go runtime starts (see nsenter).
	Join        []JoinNamespace        `json:"join,omitempty"`
	UIDMappings []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
	GIDMappings []specs.LinuxIDMapping `json:"gidMappings,omitempty"`

	// CgroupsPath is linux.cgroupsPath; the cgroups package turns it and
	// Resources into directories and file writes.
	CgroupsPath string                `json:"cgroupsPath,omitempty"`
	Resources   *specs.LinuxResources `json:"-"`
	// CgroupMounts are the container's own cgroup directories (v1
	// controller → host directory), filled in by the parent once the
	// cgroup exists, for a "cgroup" mount on a v1 or hybrid host.
	CgroupMounts map[string]string `json:"cgroupMounts,omitempty"`
	// CgroupUnified is the container's cgroup2 directory on the host.
	CgroupUnified string `json:"cgroupUnified,omitempty"`

	// CgroupPlan is the cgroups package's printout of the writes that
	// linux.resources makes, when the host was probed (Runtime.Explain).
	CgroupPlan string `json:"-"`

	// Hooks run by the parent, in the runtime's namespaces.
	Hooks *specs.Hooks `json:"-"`

	// TimeNS is a new time namespace, made by the init's C constructor
	// before the Go runtime starts (see TimeNamespace).
	TimeNS *TimeNamespace `json:"timeNS,omitempty"`

	// NSEnter is set when the init must find itself already in the
	// namespaces of Join entered by runtime/nsenter (mnt, user, time), or
	// in TimeNS.
	NSEnter bool `json:"nsenter,omitempty"`

	// Steps are run in order by the container's init.
	Steps Steps `json:"steps"`
}

// JoinNamespace is a namespace entered with setns(2) rather than created.
type JoinNamespace struct {
	Type specs.LinuxNamespaceType `json:"type"`
	Path string                   `json:"path"`
}

func (j JoinNamespace) String() string {
	return fmt.Sprintf("setns(open(%q), %s)", j.Path, CloneFlags(nsFlag[j.Type]))
}

// String prints the plan as a numbered script in system-call terms.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# container %s, bundle %s\n", p.ID, p.Bundle)
	b.WriteString("# parent (hull create)\n")
	for _, j := range p.Join {
		if byConstructor(j.Type) {
			fmt.Fprintf(&b, "  %s  (in the init's C constructor, before the Go runtime starts)\n", j)
		} else {
			fmt.Fprintf(&b, "  %s  (on the forking thread)\n", j)
		}
	}
	fmt.Fprintf(&b, "  clone(%s|SIGCHLD) → init: execve(hull init) from a read-only detached mount of hull (a sealed memfd copy when rootless)\n", p.Clone)
	if len(p.UIDMappings) > 0 {
		fmt.Fprintf(&b, "  write /proc/<init>/uid_map %q\n", idMapText(p.UIDMappings))
		fmt.Fprintf(&b, "  write /proc/<init>/gid_map %q\n", idMapText(p.GIDMappings))
	}
	if p.TimeNS != nil {
		fmt.Fprintf(&b, "  %s  (in the init's C constructor, before the Go runtime starts)\n", p.TimeNS)
	}
	fmt.Fprintf(&b, "  cgroup %q: mkdir in each hierarchy, write linux.resources, add <init> to cgroup.procs\n", p.CgroupsPath)
	if p.CgroupPlan != "" {
		b.WriteString(indent(p.CgroupPlan, "    "))
		b.WriteString("\n")
	}
	b.WriteString("# init (pid 1 of the container)\n")
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "%3d. %s\n", i+1, s)
	}
	return b.String()
}

func idMapText(m []specs.LinuxIDMapping) string {
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return b.String()
}

// A Step is one action of the container's init. String prints it in
// system-call terms; run (in init_linux.go) performs it.
type Step interface {
	fmt.Stringer
	run(c *initContext) error
}

// Steps is a list of steps that survives a JSON round trip: each is
// written as {"op": "mount", "args": {...}}.
type Steps []Step

// stepOps names every step type for the JSON envelope.
var stepOps = map[string]func() Step{
	"setsid":        func() Step { return new(Setsid) },
	"propagation":   func() Step { return new(SetPropagation) },
	"bindRootfs":    func() Step { return new(BindRootfs) },
	"mount":         func() Step { return new(Mount) },
	"mountCgroup":   func() Step { return new(MountCgroup) },
	"device":        func() Step { return new(Device) },
	"symlink":       func() Step { return new(Symlink) },
	"syncHooks":     func() Step { return new(SyncHooks) },
	"hook":          func() Step { return new(RunHook) },
	"pivotRoot":     func() Step { return new(PivotRoot) },
	"moveRoot":      func() Step { return new(MoveRoot) },
	"chroot":        func() Step { return new(Chroot) },
	"console":       func() Step { return new(Console) },
	"maskPath":      func() Step { return new(MaskPath) },
	"readonlyPath":  func() Step { return new(ReadonlyPath) },
	"readonlyRoot":  func() Step { return new(ReadonlyRoot) },
	"hostname":      func() Step { return new(Sethostname) },
	"domainname":    func() Step { return new(Setdomainname) },
	"sysctl":        func() Step { return new(Sysctl) },
	"rlimit":        func() Step { return new(Setrlimit) },
	"oomScoreAdj":   func() Step { return new(OOMScoreAdj) },
	"keyring":       func() Step { return new(JoinKeyring) },
	"personality":   func() Step { return new(Personality) },
	"ioprio":        func() Step { return new(IOPriority) },
	"scheduler":     func() Step { return new(Scheduler) },
	"dropBounding":  func() Step { return new(DropBounding) },
	"user":          func() Step { return new(SetUser) },
	"umask":         func() Step { return new(Umask) },
	"chdir":         func() Step { return new(Chdir) },
	"capabilities":  func() Step { return new(Capabilities) },
	"noNewPrivs":    func() Step { return new(NoNewPrivs) },
	"seccomp":       func() Step { return new(Seccomp) },
	"closeFDs":      func() Step { return new(CloseFDs) },
	"waitStart":     func() Step { return new(WaitStart) },
	"exec":          func() Step { return new(Exec) },
	"signalParent":  func() Step { return new(SignalReady) },
	"unshareCgroup": func() Step { return new(UnshareCgroup) },
}

// stepOpOf maps each step type (a pointer, as stepOps makes them) to its
// op, for the envelope of every step of every plan sent.
var stepOpOf = sync.OnceValue(func() map[reflect.Type]string {
	m := make(map[reflect.Type]string, len(stepOps))
	for op, mk := range stepOps {
		m[reflect.TypeOf(mk())] = op
	}
	return m
})

func stepOp(s Step) string {
	if op, ok := stepOpOf()[reflect.TypeOf(s)]; ok {
		return op
	}
	panic(fmt.Sprintf("runtime: step type %T is not in stepOps", s))
}

type stepEnvelope struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

func (ss Steps) MarshalJSON() ([]byte, error) {
	out := make([]stepEnvelope, 0, len(ss))
	for _, s := range ss {
		a, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		out = append(out, stepEnvelope{Op: stepOp(s), Args: a})
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes each step by its op, refusing an op or a field
// it does not know: a plan from another build of hull must fail, not run
// with a step or an argument skipped. (A custom decoder does not inherit
// DisallowUnknownFields from the one that calls it.) Steps are numbered
// from 1, as the init's errors number them. The arguments go through one
// decoder, one after the other: a decoder per step cost the init's first
// decode of a plan half as much again.
func (ss *Steps) UnmarshalJSON(b []byte) error {
	var env []stepEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return err
	}
	var args bytes.Buffer
	for i, e := range env {
		if len(e.Args) == 0 { // else the next step's would be read for it
			return fmt.Errorf("step %d (%s): no args", i+1, e.Op)
		}
		args.Write(e.Args)
		args.WriteByte('\n')
	}
	dec := json.NewDecoder(&args)
	dec.DisallowUnknownFields()
	*ss = (*ss)[:0]
	for i, e := range env {
		mk, ok := stepOps[e.Op]
		if !ok {
			return fmt.Errorf("step %d: unknown op %q", i+1, e.Op)
		}
		s := mk()
		if err := dec.Decode(s); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, e.Op, err)
		}
		*ss = append(*ss, s)
	}
	return nil
}

// The step types, in the order the init usually runs them.

// Setsid makes the init a session leader, so that a terminal can become
// its controlling tty.
type Setsid struct{}

func (Setsid) String() string { return "setsid()" }

// UnshareCgroup gives the container its cgroup namespace. It is not a
// clone flag: the namespace's root is the cgroup its creator is in at the
// time, so the init makes it only after the parent has moved it into the
// container's cgroup.
type UnshareCgroup struct{}

func (UnshareCgroup) String() string {
	return "unshare(CLONE_NEWCGROUP) (now that the parent has put the init in its cgroup)"
}

// SetPropagation changes the propagation of a mount in the container's new
// mount namespace; the first step makes "/" rslave (or
// linux.rootfsPropagation) so that no container mount leaks to the host.
type SetPropagation struct {
	Target string     `json:"target"`
	Flags  MountFlags `json:"flags"`
}

func (s SetPropagation) String() string {
	return fmt.Sprintf("mount(NULL, %q, NULL, %s, NULL)", s.Target, s.Flags)
}

// BindRootfs bind-mounts the rootfs onto itself: pivot_root needs its new
// root to be a mount point.
type BindRootfs struct {
	Rootfs string `json:"rootfs"`
}

func (s BindRootfs) String() string {
	return fmt.Sprintf("mount(%q, %q, NULL, MS_BIND|MS_REC, NULL)", s.Rootfs, s.Rootfs)
}

// Mount is one entry of config.json's mounts. Dest is inside the
// container; the init resolves it under the rootfs with
// openat2(RESOLVE_IN_ROOT) and mounts onto /proc/self/fd/N, so a symlink
// in the image cannot send the mount to the host.
type Mount struct {
	Source      string       `json:"source"`
	Dest        string       `json:"dest"`
	Type        string       `json:"type"`
	Flags       MountFlags   `json:"flags"`
	Data        string       `json:"data,omitempty"`
	Propagation []MountFlags `json:"propagation,omitempty"`
	RecSet      MountAttr    `json:"recSet,omitempty"`
	RecClr      MountAttr    `json:"recClr,omitempty"`
	TmpCopyUp   bool         `json:"tmpCopyUp,omitempty"`
	// Remount is set for a bind mount with flags that mount(2) ignores on
	// MS_BIND (ro, nosuid, ...): they take a second MS_REMOUNT call.
	Remount MountFlags `json:"remount,omitempty"`
	// IDMap makes the bind mount idmapped: its files' owners are seen
	// through these mappings (mount_setattr(MOUNT_ATTR_IDMAP) with a user
	// namespace holding them, made by the parent).
	IDMap *IDMap `json:"idmap,omitempty"`
}

// IDMap is an idmapped mount's mappings, and the fd of the user namespace
// that holds them in the init (filled in by the parent).
type IDMap struct {
	UIDMappings []specs.LinuxIDMapping `json:"uidMappings"`
	GIDMappings []specs.LinuxIDMapping `json:"gidMappings"`
	Recursive   bool                   `json:"recursive,omitempty"`
	UsernsFD    int                    `json:"usernsFD,omitempty"`
}

func (m Mount) isBind() bool { return m.Flags&MountFlags(mountFlagOptions["bind"].flag) != 0 }

func (m Mount) String() string {
	var b strings.Builder
	typ := "NULL"
	if m.Type != "" && !m.isBind() {
		typ = fmt.Sprintf("%q", m.Type)
	}
	data := "NULL"
	if m.Data != "" {
		data = fmt.Sprintf("%q", m.Data)
	}
	if m.IDMap != nil {
		rec := ""
		if m.IDMap.Recursive {
			rec = "|AT_RECURSIVE"
		}
		fmt.Fprintf(&b, "open_tree(%q, OPEN_TREE_CLONE%s); mount_setattr(MOUNT_ATTR_IDMAP, userns with uid_map %q gid_map %q); move_mount(→ <rootfs>%s)",
			m.Source, rec, idMapText(m.IDMap.UIDMappings), idMapText(m.IDMap.GIDMappings), m.Dest)
	} else {
		fmt.Fprintf(&b, "mount(%q, <rootfs>%s, %s, %s, %s)", m.Source, m.Dest, typ, m.Flags, data)
	}
	if m.TmpCopyUp {
		fmt.Fprintf(&b, "; copy the old contents of %s into it", m.Dest)
	}
	if m.Remount != 0 {
		fmt.Fprintf(&b, "; mount(NULL, <rootfs>%s, NULL, %s, NULL)", m.Dest, m.Remount)
	}
	for _, p := range m.Propagation {
		fmt.Fprintf(&b, "; mount(NULL, <rootfs>%s, NULL, %s, NULL)", m.Dest, p)
	}
	if m.RecSet != 0 || m.RecClr != 0 {
		fmt.Fprintf(&b, "; mount_setattr(<rootfs>%s, AT_RECURSIVE, {set: %s, clr: %s})", m.Dest, m.RecSet, m.RecClr)
	}
	return b.String()
}

// MountCgroup is a "cgroup" mount. On a cgroup2 host it mounts cgroup2 (the
// container sees its own cgroup as the root when it has a cgroup
// namespace, its own directory bound otherwise); on a v1 or hybrid host it
// mounts a tmpfs and binds the container's own directory of each
// controller hierarchy into it, as runc does.
type MountCgroup struct {
	Dest     string     `json:"dest"`
	Flags    MountFlags `json:"flags"`
	CgroupNS bool       `json:"cgroupNS,omitempty"` // the container has its own cgroup namespace
}

func (m MountCgroup) String() string {
	return fmt.Sprintf("cgroup mount at <rootfs>%s (%s): cgroup2 with a cgroup namespace, else tmpfs + MS_BIND of the container's own cgroup directories", m.Dest, m.Flags)
}

// Device is a node in the container's /dev: made with mknod(2), or bound
// from the host's node when a user namespace forbids mknod.
type Device struct {
	Path  string      `json:"path"`
	Type  string      `json:"type"`
	Major int64       `json:"major"`
	Minor int64       `json:"minor"`
	Mode  os.FileMode `json:"mode"`
	UID   uint32      `json:"uid"`
	GID   uint32      `json:"gid"`
	Bind  bool        `json:"bind,omitempty"`
}

func (d Device) String() string {
	if d.Bind {
		return fmt.Sprintf("mount(%q, <rootfs>%s, NULL, MS_BIND, NULL)", d.Path, d.Path)
	}
	kind := map[string]string{"c": "S_IFCHR", "u": "S_IFCHR", "b": "S_IFBLK", "p": "S_IFIFO"}[d.Type]
	return fmt.Sprintf("mknod(<rootfs>%s, %s|%04o, makedev(%d, %d)); chown(%d, %d)", d.Path, kind, d.Mode.Perm(), d.Major, d.Minor, d.UID, d.GID)
}

// Symlink makes one of /dev's standard links.
type Symlink struct {
	Target string `json:"target"`
	Link   string `json:"link"`
}

func (s Symlink) String() string { return fmt.Sprintf("symlink(%q, <rootfs>%s)", s.Target, s.Link) }

// SyncHooks hands over to the parent, which runs the prestart and
// createRuntime hooks in the runtime's namespaces while the init waits.
type SyncHooks struct{}

func (SyncHooks) String() string {
	return "sync: parent runs prestart and createRuntime hooks with the state on stdin"
}

// RunHook runs a hook from inside the container's namespaces
// (createContainer before pivot_root, startContainer before execve).
type RunHook struct {
	Kind string     `json:"kind"`
	Hook specs.Hook `json:"hook"`
}

func (h RunHook) String() string {
	return fmt.Sprintf("%s hook: fork+execve(%q, %q) with the state on stdin", h.Kind, h.Hook.Path, h.Hook.Args)
}

// PivotRoot makes the rootfs the container's "/" and detaches the old
// root, using the pivot_root(".", ".") idiom: no directory for the old
// root is needed inside the image.
type PivotRoot struct {
	Rootfs string `json:"rootfs"`
	// Propagation is linux.rootfsPropagation when it asks for a shared
	// root: pivot_root refuses shared mounts, so the root is made
	// private for the call and given this propagation after it.
	Propagation MountFlags `json:"propagation,omitempty"`
}

func (p PivotRoot) String() string {
	s := fmt.Sprintf("chdir(%q); pivot_root(\".\", \".\"); mount(NULL, \".\", NULL, MS_SLAVE|MS_REC, NULL); umount2(\".\", MNT_DETACH); chdir(\"/\")", p.Rootfs)
	if p.Propagation != 0 {
		s = fmt.Sprintf("mount(NULL, %q, NULL, MS_PRIVATE, NULL); %s; mount(NULL, \"/\", NULL, %s, NULL)", p.Rootfs, s, p.Propagation)
	}
	return s
}

// MoveRoot is --no-pivot: the rootfs is moved over "/" and chrooted into,
// for a ramfs root where pivot_root fails. The old root stays reachable to
// anyone who can escape a chroot; that is why it is not the default.
type MoveRoot struct {
	Rootfs string `json:"rootfs"`
}

func (p MoveRoot) String() string {
	return fmt.Sprintf("chdir(%q); mount(%q, \"/\", NULL, MS_MOVE, NULL); chroot(\".\"); chdir(\"/\")", p.Rootfs, p.Rootfs)
}

// Chroot changes the root of a container that shares the host's mount
// namespace (it has none of its own: pivot_root there would change the
// root of every host process), and of a process exec'd into one, whose
// Dir is then the init's /proc/<pid>/root. The host's tree stays in the
// namespace, out of reach of a process that cannot escape a chroot.
type Chroot struct {
	Dir string `json:"dir"`
}

func (c Chroot) String() string {
	return fmt.Sprintf("chdir(%q); chroot(\".\"); chdir(\"/\")", c.Dir)
}

// Console makes a pty inside the container's devpts and sends its master
// to the --console-socket over SCM_RIGHTS.
type Console struct {
	Width  uint `json:"width,omitempty"`
	Height uint `json:"height,omitempty"`
}

func (c Console) String() string {
	s := `open("/dev/pts/ptmx", O_RDWR|O_NOCTTY|O_CLOEXEC); ioctl(TIOCSPTLCK, 0); ioctl(TIOCGPTN) → n; open("/dev/pts/<n>") → slave; mount(slave, "/dev/console", MS_BIND)`
	if c.Width > 0 || c.Height > 0 {
		s += fmt.Sprintf("; ioctl(TIOCSWINSZ, %dx%d)", c.Width, c.Height)
	}
	return s + "; sendmsg(console-socket, SCM_RIGHTS master); ioctl(slave, TIOCSCTTY); dup2(slave, 0/1/2)"
}

// MaskPath hides a path: /dev/null bound over a file, an empty read-only
// tmpfs over a directory.
type MaskPath struct {
	Path string `json:"path"`
}

func (m MaskPath) String() string {
	return fmt.Sprintf("mask %q: mount(\"/dev/null\", it, NULL, MS_BIND, NULL) if a file, mount(\"tmpfs\", it, \"tmpfs\", MS_RDONLY, NULL) if a directory", m.Path)
}

// ReadonlyPath makes a path read-only: bound onto itself and remounted.
type ReadonlyPath struct {
	Path string `json:"path"`
}

func (r ReadonlyPath) String() string {
	return fmt.Sprintf("mount(%q, %q, NULL, MS_BIND|MS_REC, NULL); mount(NULL, %q, NULL, MS_BIND|MS_REMOUNT|MS_RDONLY|<its flags>, NULL)", r.Path, r.Path, r.Path)
}

// ReadonlyRoot is root.readonly.
type ReadonlyRoot struct{}

func (ReadonlyRoot) String() string {
	return `mount(NULL, "/", NULL, MS_BIND|MS_REMOUNT|MS_RDONLY|<its flags>, NULL)`
}

// Sethostname is config.json's hostname.
type Sethostname struct {
	Name string `json:"name"`
}

func (h Sethostname) String() string { return fmt.Sprintf("sethostname(%q)", h.Name) }

// Setdomainname is config.json's domainname.
type Setdomainname struct {
	Name string `json:"name"`
}

func (h Setdomainname) String() string { return fmt.Sprintf("setdomainname(%q)", h.Name) }

// Sysctl is one linux.sysctl entry, written into the container's /proc.
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (s Sysctl) String() string {
	return fmt.Sprintf("write /proc/sys/%s %q", strings.ReplaceAll(s.Key, ".", "/"), s.Value)
}

// Setrlimit is one process.rlimits entry.
type Setrlimit struct {
	Name     string `json:"name"`
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

func (r Setrlimit) String() string {
	return fmt.Sprintf("prlimit64(0, %s, {cur: %d, max: %d})", r.Name, r.Soft, r.Hard)
}

// OOMScoreAdj is process.oomScoreAdj.
type OOMScoreAdj struct {
	Value int `json:"value"`
}

func (o OOMScoreAdj) String() string {
	return fmt.Sprintf("write /proc/self/oom_score_adj \"%d\"", o.Value)
}

// JoinKeyring gives the container its own session keyring, so that it
// cannot read the keys of the host's session (skipped by
// --no-new-keyring).
type JoinKeyring struct {
	Name string `json:"name"`
}

func (k JoinKeyring) String() string {
	return fmt.Sprintf("keyctl(KEYCTL_JOIN_SESSION_KEYRING, %q); keyctl(KEYCTL_SETPERM, 0x3f0b0000)", k.Name)
}

// Personality is linux.personality.
type Personality struct {
	Domain string `json:"domain"`
}

func (p Personality) String() string { return fmt.Sprintf("personality(PER_%s)", p.Domain) }

// IOPriority is process.ioPriority.
type IOPriority struct {
	Class    specs.IOPriorityClass `json:"class"`
	Priority int                   `json:"priority"`
}

func (p IOPriority) String() string {
	return fmt.Sprintf("ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(%s, %d))", p.Class, p.Priority)
}

// Scheduler is process.scheduler.
type Scheduler struct {
	Sched specs.Scheduler `json:"sched"`
}

func (s Scheduler) String() string {
	return fmt.Sprintf("sched_setattr(0, {policy: %s, nice: %d, priority: %d, flags: %v, runtime: %d, deadline: %d, period: %d}, 0)",
		s.Sched.Policy, s.Sched.Nice, s.Sched.Priority, s.Sched.Flags, s.Sched.Runtime, s.Sched.Deadline, s.Sched.Period)
}

// DropBounding empties the bounding set down to process.capabilities.bounding
// while the init still holds CAP_SETPCAP, before it changes uid.
type DropBounding struct {
	Keep []string `json:"keep"`
}

func (d DropBounding) String() string {
	return fmt.Sprintf("prctl(PR_CAPBSET_DROP, c) for every capability c not in %v", d.Keep)
}

// SetUser is process.user: supplementary groups, gid, then uid, keeping
// the permitted set across the uid change (PR_SET_KEEPCAPS) so that the
// Capabilities step can still set the final sets.
type SetUser struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// SetgroupsDenied is true in a user namespace whose setgroups file
	// says "deny": there setgroups(2) fails, so it is skipped when Groups
	// is empty.
	SetgroupsDenied bool `json:"setgroupsDenied,omitempty"`
}

func (u SetUser) String() string {
	return fmt.Sprintf("prctl(PR_SET_KEEPCAPS, 1); setgroups(%v); setresgid(%d, %d, %d); setresuid(%d, %d, %d); prctl(PR_SET_KEEPCAPS, 0)",
		u.Groups, u.GID, u.GID, u.GID, u.UID, u.UID, u.UID)
}

// Umask is process.user.umask.
type Umask struct {
	Mask uint32 `json:"mask"`
}

func (u Umask) String() string { return fmt.Sprintf("umask(%04o)", u.Mask) }

// Chdir is process.cwd.
type Chdir struct {
	Dir string `json:"dir"`
}

func (c Chdir) String() string { return fmt.Sprintf("chdir(%q)", c.Dir) }

// Capabilities sets the effective, permitted, inheritable and ambient sets.
type Capabilities struct {
	Caps specs.LinuxCapabilities `json:"caps"`
}

func (c Capabilities) String() string {
	return fmt.Sprintf("capset(effective=%v, permitted=%v, inheritable=%v); prctl(PR_CAP_AMBIENT_RAISE, c) for c in %v",
		c.Caps.Effective, c.Caps.Permitted, c.Caps.Inheritable, c.Caps.Ambient)
}

// NoNewPrivs is process.noNewPrivileges.
type NoNewPrivs struct{}

func (NoNewPrivs) String() string { return "prctl(PR_SET_NO_NEW_PRIVS, 1)" }

// Seccomp is linux.seccomp, compiled to BPF by runtime/seccomp and loaded
// last, so that the filter does not have to allow hull's own setup calls.
type Seccomp struct {
	Spec    *specs.LinuxSeccomp `json:"spec"`
	Program string              `json:"-"`
	// Notify is set when the filter can return SCMP_ACT_NOTIFY: the
	// listener fd must reach the parent before the init is ready.
	Notify bool `json:"notify,omitempty"`
}

func (s Seccomp) String() string {
	head := fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %v, <BPF of default %s and %d rules>)", s.Spec.Flags, s.Spec.DefaultAction, len(s.Spec.Syscalls))
	if s.Program != "" {
		return head + "\n" + indent(s.Program, "       ")
	}
	return head
}

func indent(s, pfx string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return pfx + strings.Join(lines, "\n"+pfx)
}

// CloseFDs marks every descriptor above the preserved ones close-on-exec,
// so nothing of the host (the state dir, hull's own files) reaches the
// container's program (the CVE-2024-21626 class).
type CloseFDs struct {
	First int `json:"first"`
}

func (c CloseFDs) String() string {
	return fmt.Sprintf("close_range(%d, ~0U, CLOSE_RANGE_CLOEXEC)", c.First)
}

// TimeNamespace is a new time namespace with linux.timeOffsets. Offsets
// can be written only while no process is in the namespace, and
// unshare(CLONE_NEWTIME) moves only the caller's future children into it
// (execve too, but only on kernels newer than the 6.1 of Debian 12). So
// the init's C constructor (runtime/nsenter), while the process is still
// single-threaded, unshares it, writes the offsets and enters it with
// setns(2), which refuses a multi-threaded caller: the init and the
// program it becomes see the offsets on every kernel with time
// namespaces (5.6 and later). It runs after a user namespace given by
// path is joined, so that namespace owns it, and before a mount
// namespace is, whose /proc may not show the init.
type TimeNamespace struct {
	Offsets map[string]specs.LinuxTimeOffset `json:"offsets,omitempty"`
}

// timensVar asks the nsenter constructor for a new time namespace. Its
// value is the offsets as timens_offsets lines joined with ";"
// ("monotonic 3600 0;boottime 86400 0"), empty for none.
const timensVar = "_HULL_TIMENS"

// env is the constructor's request for this namespace.
func (t TimeNamespace) env() string {
	var lines []string
	for _, c := range []string{"monotonic", "boottime"} {
		if o, ok := t.Offsets[c]; ok {
			lines = append(lines, fmt.Sprintf("%s %d %d", c, o.Secs, o.Nanosecs))
		}
	}
	return timensVar + "=" + strings.Join(lines, ";")
}

func (t TimeNamespace) String() string {
	s := "unshare(CLONE_NEWTIME)"
	for _, c := range []string{"monotonic", "boottime"} {
		if o, ok := t.Offsets[c]; ok {
			s += fmt.Sprintf("; write /proc/self/timens_offsets \"%s %d %d\"", c, o.Secs, o.Nanosecs)
		}
	}
	return s + `; setns(open("/proc/self/ns/time_for_children"), CLONE_NEWTIME)`
}

// SignalReady tells the parent the container is created: "hull create"
// writes the pid file and returns.
type SignalReady struct{}

func (SignalReady) String() string { return "sync: tell the parent the container is created" }

// WaitStart blocks until "hull start": the open of the state directory's
// exec.fifo for writing only returns once start opens it for reading.
type WaitStart struct{}

func (WaitStart) String() string {
	return `open("/proc/self/fd/<exec.fifo>", O_WRONLY|O_CLOEXEC) (blocks until "hull start"); write("0")`
}

// Exec replaces the init with the container's program.
type Exec struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
}

func (e Exec) String() string {
	return fmt.Sprintf("execve(%q (looked up in the container's PATH), %q, %q)", e.Args[0], e.Args, e.Env)
}
