package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A container's state lives in <root>/<id>/:
//
//	state.json  what hull knows (written atomically: temp file + rename)
//	exec.fifo   exists from create until start; the init blocks opening it
//
// Every command that changes a container holds an exclusive flock(2) on
// the directory itself; readers take it shared. A command killed at any
// point leaves state.json describing the last completed phase, which is
// all that delete --force needs to clean up.

const (
	stateFile = "state.json"
	fifoFile  = "exec.fifo"
)

// Status is a container's OCI status.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// phase is how far create got; the status adds what the kernel says now.
type phase string

const (
	phaseCreating phase = "creating"
	phaseCreated  phase = "created"
)

// record is state.json.
type record struct {
	ID       string `json:"id"`
	Bundle   string `json:"bundle"`
	Rootfs   string `json:"rootfs"`
	Pid      int    `json:"pid"`
	PidStart uint64 `json:"pidStart"` // /proc/<pid>/stat field 22: guards against pid reuse
	// InitExe is the program the init ran until it exec'd the
	// container's (its read-only mount of hull-init, or of hull): status
	// tells created from running by it, even once hull-init beside the
	// hull that asks is another file (an upgrade between create and
	// start).
	InitExe     *fileID           `json:"initExe,omitempty"`
	Phase       phase             `json:"phase"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Spec is the spec create loaded. A record read back from
	// state.json has none until spec() decodes it: the commands after
	// create (start, state, kill, delete) need only a few of its fields,
	// which read decodes into stored.
	Spec    *specs.Spec `json:"spec"`
	Systemd bool        `json:"systemd,omitempty"`
	// CgroupPaths are the container's cgroup directories on the host (v1
	// controller or "" for cgroup2 → directory).
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	// CgroupParents are the parent cgroups that create made for the
	// container's cgroup (cgroups.Manager.Created); delete removes those
	// that are empty then, so no empty cgroup outlives the container.
	CgroupParents []string `json:"cgroupParents,omitempty"`
	// NoCgroup is set for a rootless container on a host that delegates
	// no cgroup to its user: it runs without one.
	NoCgroup bool `json:"noCgroup,omitempty"`

	stored *storedSpec // the spec as read from state.json
}

// storedSpec is the spec of a record read from state.json: its JSON,
// and the few fields the commands after create use, decoded. Decoding a
// whole specs.Spec is dear in a fresh process: encoding/json builds its
// field tables (and an encoder) for every type the spec reaches, the
// whole runtime-spec type graph, a few milliseconds in every "hull
// start", "hull state" and "hull delete"; specView reaches a handful.
type storedSpec struct {
	raw  []byte
	view specView
}

// specView is what the commands after create read of a container's spec.
type specView struct {
	Version string       `json:"ociVersion"`
	Hooks   *specs.Hooks `json:"hooks,omitempty"`
	Linux   *linuxView   `json:"linux,omitempty"`
}

// linuxView is what they read of its linux section.
type linuxView struct {
	CgroupsPath string                 `json:"cgroupsPath,omitempty"`
	Namespaces  []specs.LinuxNamespace `json:"namespaces,omitempty"`
}

func (s *storedSpec) UnmarshalJSON(b []byte) error {
	s.raw = bytes.Clone(b)
	return json.Unmarshal(b, &s.view)
}

// spec returns the container's whole spec, decoding it from state.json
// on first use.
func (r *record) spec() (*specs.Spec, error) {
	if r.Spec == nil && r.stored != nil {
		s, err := ParseSpec(r.stored.raw)
		if err != nil {
			return nil, fmt.Errorf("spec in %s: %w", stateFile, err)
		}
		r.Spec = s
	}
	if r.Spec == nil {
		return nil, fmt.Errorf("container %s: %s has no spec", r.ID, stateFile)
	}
	return r.Spec, nil
}

// view returns what the commands after create read of the spec: from
// the spec create loaded, or as state.json had it.
func (r *record) view() specView {
	switch {
	case r.Spec != nil:
		v := specView{Version: r.Spec.Version, Hooks: r.Spec.Hooks}
		if l := r.Spec.Linux; l != nil {
			v.Linux = &linuxView{CgroupsPath: l.CgroupsPath, Namespaces: l.Namespaces}
		}
		return v
	case r.stored != nil:
		return r.stored.view
	}
	return specView{}
}

// cgroupsPath returns linux.cgroupsPath, defaulted as runc does
// (cgroupsPathOf).
func (r *record) cgroupsPath() string {
	if l := r.view().Linux; l != nil && l.CgroupsPath != "" {
		return l.CgroupsPath
	}
	return "/" + r.ID
}

// ErrNotExist is returned for a container id with no state.
var ErrNotExist = errors.New("does not exist")

// ErrExist is returned by Create for an id already in use.
var ErrExist = errors.New("already exists")

// checkID accepts runc's ids: letters, digits and _+-. (the regular
// expression ^[\w+\-.]+$, checked by hand: every hull process, the
// container's init too, would compile it at start-up).
func checkID(id string) error {
	ok := id != "" && id != "." && id != ".." && len(id) <= 1024
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '+' || c == '-' || c == '.':
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

// lockedDir is a container's state directory held under flock.
type lockedDir struct {
	path string
	f    *os.File
}

func lockDir(path string, how int) (*lockedDir, error) {
	f, err := os.OpenFile(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return &lockedDir{path: path, f: f}, nil
}

func (d *lockedDir) unlock() {
	if d != nil && d.f != nil {
		d.f.Close() // releases the flock
		d.f = nil
	}
}

func (d *lockedDir) read() (*record, error) {
	b, err := os.ReadFile(filepath.Join(d.path, stateFile))
	if err != nil {
		return nil, err
	}
	// The spec goes to a storedSpec, which shadows record.Spec.
	var r struct {
		record
		Spec *storedSpec `json:"spec"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(d.path, stateFile), err)
	}
	r.record.stored = r.Spec
	return &r.record, nil
}

func (d *lockedDir) write(r *record) error {
	// The spec goes through encodable (spec.go), which shadows
	// record.Spec; a record read back keeps the spec it read.
	spec := encodable(r.Spec)
	if r.Spec == nil && r.stored != nil {
		spec = json.RawMessage(r.stored.raw)
	}
	b, err := json.Marshal(struct {
		*record
		Spec any `json:"spec"`
	}{r, spec})
	if err != nil {
		return err
	}
	tmp := filepath.Join(d.path, "."+stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d.path, stateFile))
}

// pidStart returns field 22 of /proc/<pid>/stat (the start time in clock
// ticks since boot) and whether the process is alive (not a zombie).
func pidStart(pid int) (uint64, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return start, f[0] != "Z" && f[0] != "X"
}

// alive reports whether the record's init still runs (and is the same
// process, not a recycled pid).
func (r *record) alive() bool {
	start, ok := pidStart(r.Pid)
	return ok && start == r.PidStart
}

// State is what "hull state" prints: runc's JSON, which is the OCI state
// plus the rootfs, creation time and owner.
type State struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      Status            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// OCI returns the state as the runtime spec defines it, for hooks.
func (s *State) OCI() *specs.State {
	return &specs.State{
		Version:     specs.Version,
		ID:          s.ID,
		Status:      specs.ContainerState(s.Status),
		Pid:         s.Pid,
		Bundle:      s.Bundle,
		Annotations: s.Annotations,
	}
}

func fileOwner(path string) string {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return ""
	}
	if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(st.Uid))
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
