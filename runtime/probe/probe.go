package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Outcome is what the kernel answered when one feature was tried.
type Outcome struct {
	// Call is what was tried, in system-call terms:
	// "clone(CLONE_NEWTIME)", "mount(overlay)".
	Call string `json:"call"`
	OK   bool   `json:"ok"`
	// Skipped says why the call was not made at all (it needs root, say);
	// OK is then false and Err empty.
	Skipped string `json:"skipped,omitempty"`
	// Errno is the kernel's errno name ("EPERM") when the call failed
	// with one, Err the whole error.
	Errno string `json:"errno,omitempty"`
	Err   string `json:"error,omitempty"`
	// Note is what was observed, e.g. "net:[4026532412], caller in
	// net:[4026531840]".
	Note string `json:"note,omitempty"`
}

func (o Outcome) String() string {
	switch {
	case o.OK && o.Note != "":
		return o.Call + ": ok (" + o.Note + ")"
	case o.OK:
		return o.Call + ": ok"
	case o.Skipped != "":
		return o.Call + ": not tried: " + o.Skipped
	}
	// A joined error's lines become one line: an outcome is one item.
	return o.Call + ": " + strings.ReplaceAll(o.Err, "\n", "; ")
}

// fail records err in o, with its errno name when it carries one.
func (o *Outcome) fail(err error) {
	o.OK = false
	o.Err = err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		o.Errno = unix.ErrnoName(errno)
	}
}

// Namespace is the outcome of creating one kind of namespace.
type Namespace struct {
	Type string `json:"type"` // as in /proc/PID/ns: "cgroup", "ipc", "mnt", ...
	Flag string `json:"flag"` // clone flag: "CLONE_NEWCGROUP"
	Outcome
}

// IDRange is one line of /etc/subuid or /etc/subgid for a user.
type IDRange struct {
	Start uint32 `json:"start"`
	Count uint32 `json:"count"`
}

// Helper is a setuid (or file-capability) id-mapping helper such as
// newuidmap.
type Helper struct {
	Name     string `json:"name"`
	Path     string `json:"path,omitempty"` // "" when not found
	Setuid   bool   `json:"setuid,omitempty"`
	FileCaps bool   `json:"fileCaps,omitempty"` // security.capability is set
}

// Usable reports whether the helper can write maps for another user:
// found, and setuid root or given capabilities.
func (h Helper) Usable() bool { return h.Path != "" && (h.Setuid || h.FileCaps) }

// UserNamespaces is what decides whether unprivileged users get user
// namespaces, and how many ids they may map.
type UserNamespaces struct {
	// MaxUserNamespaces is /proc/sys/user/max_user_namespaces; 0 disables
	// user namespaces for everyone, -1 means the file is missing.
	MaxUserNamespaces int `json:"maxUserNamespaces"`
	// UnprivilegedClone is Debian's kernel.unprivileged_userns_clone
	// (kernels before Debian 11), -1 when the sysctl does not exist.
	UnprivilegedClone int `json:"unprivilegedUsernsClone"`
	// AppArmorRestrict is Ubuntu's
	// kernel.apparmor_restrict_unprivileged_userns, -1 when absent.
	AppArmorRestrict int `json:"apparmorRestrictUnprivilegedUserns"`
	// Unprivileged is clone(CLONE_NEWUSER) made as UnprivilegedUID.
	Unprivileged    Outcome `json:"unprivileged"`
	UnprivilegedUID int     `json:"unprivilegedUID"`
	// User is the invoking user (SUDO_USER under sudo) whose subordinate
	// ids were looked up, and UID its uid (-1 when unknown).
	User   string    `json:"user"`
	UID    int       `json:"uid"`
	SubUID []IDRange `json:"subuid"`
	SubGID []IDRange `json:"subgid"`
	// SubIDErr says why /etc/subuid or /etc/subgid could not be read.
	SubIDErr  string `json:"subidError,omitempty"`
	NewUIDMap Helper `json:"newuidmap"`
	NewGIDMap Helper `json:"newgidmap"`
}

// Features is everything Run found out.
type Features struct {
	Kernel     string         `json:"kernel"` // uname -r
	EUID       int            `json:"euid"`   // who ran the probes
	Namespaces []Namespace    `json:"namespaces"`
	UserNS     UserNamespaces `json:"userns"`
	Overlay    Outcome        `json:"overlay"`
	Seccomp    Outcome        `json:"seccomp"`
	// SeccompActions is /proc/sys/kernel/seccomp/actions_avail.
	SeccompActions []string `json:"seccompActions,omitempty"`
	Pidfd          Outcome  `json:"pidfd"`
	IDMapped       Outcome  `json:"idmappedMounts"`
}

// Namespace returns the outcome for a namespace type ("net").
func (f *Features) Namespace(typ string) (Namespace, bool) {
	for _, n := range f.Namespaces {
		if n.Type == typ {
			return n, true
		}
	}
	return Namespace{}, false
}

// KernelVersion parses Kernel's leading "major.minor".
func (f *Features) KernelVersion() (major, minor int, ok bool) {
	return ParseKernelVersion(f.Kernel)
}

// ParseKernelVersion parses the leading "major.minor" of a uname release
// such as "6.1.0-18-amd64".
func ParseKernelVersion(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minorStr := parts[1]
	if i := strings.IndexFunc(minorStr, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minorStr = minorStr[:i]
	}
	minor, err2 := strconv.Atoi(minorStr)
	return major, minor, err1 == nil && err2 == nil
}

type options struct {
	user            string
	unprivilegedUID int
}

// Option changes how Run probes.
type Option func(*options) error

// WithUser names the user whose /etc/subuid and /etc/subgid ranges are
// reported. The default is $SUDO_USER when set, else the user running the
// probe.
func WithUser(name string) Option {
	return func(o *options) error {
		if name == "" {
			return errors.New("probe.WithUser: empty user name")
		}
		o.user = name
		return nil
	}
}

// WithUnprivilegedUID sets the uid (and gid) that tries to create a user
// namespace without privileges. The default is 65534, nobody. It is used
// only when Run runs as root; otherwise the caller itself is unprivileged.
func WithUnprivilegedUID(uid int) Option {
	return func(o *options) error {
		if uid <= 0 {
			return fmt.Errorf("probe.WithUnprivilegedUID(%d): want a uid above 0", uid)
		}
		o.unprivilegedUID = uid
		return nil
	}
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{unprivilegedUID: 65534}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.user == "" {
		o.user = os.Getenv("SUDO_USER")
	}
	if o.user == "" {
		if u, err := user.Current(); err == nil {
			o.user = u.Username
		}
	}
	return o, nil
}

// Run tries every feature on the running kernel. Each probe runs in a
// child process or on a thread that dies afterwards, so Run leaves no
// namespace, mount, filter or process behind. An error is returned only
// for bad options or a cancelled ctx; a feature that fails is an Outcome.
func Run(ctx context.Context, opts ...Option) (*Features, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	f := &Features{EUID: os.Geteuid()}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		f.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	steps := []func(){
		func() { f.Namespaces = probeNamespaces() },
		func() { f.UserNS = probeUserNamespaces(o) },
		func() { f.Overlay = probeOverlay() },
		func() { f.Seccomp, f.SeccompActions = probeSeccomp() },
		func() { f.Pidfd = probePidfd() },
		func() { f.IDMapped = probeIDMapped() },
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		step()
	}
	return f, nil
}

// readInt reads a sysctl-style file holding one integer, -1 if absent.
func readInt(name string) int {
	b, err := os.ReadFile(name)
	if err != nil {
		return -1
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return v
}

func probePidfd() Outcome {
	o := Outcome{Call: "pidfd_open(self) + pidfd_send_signal(0)"}
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		o.fail(os.NewSyscallError("pidfd_open", err))
		return o
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
		o.fail(os.NewSyscallError("pidfd_send_signal", err))
		return o
	}
	o.OK = true
	return o
}
