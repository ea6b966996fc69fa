package cgroups

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Config says which cgroup a Manager manages.
type Config struct {
	// Path is the spec's linux.cgroupsPath. An absolute path names a
	// cgroup from the root of each hierarchy ("/libpod_parent/libpod-ID");
	// a relative path is taken from the caller's own cgroup, so a runtime
	// started inside a delegated cgroup stays inside it.
	Path string
	// Systemd asks for the systemd driver (runc's --systemd-cgroup, where
	// Path is "slice:prefix:name"). It is not supported yet: New fails.
	Systemd bool
	// CreatedParents are the parent cgroups that Create made for Path
	// (Manager.Created, kept by the runtime from "create" to "delete"):
	// Destroy removes each of them, deepest first, once it is empty, and
	// leaves in place one that still holds a process or another cgroup.
	// Default none: Destroy removes only the container's own cgroup. New
	// refuses an entry that is not strictly between the caller's own
	// cgroup (or the hierarchy's root) and the container's cgroup. A
	// Manager whose Create made parents removes them without this.
	CreatedParents []string
}

// ErrSystemd is returned by New for Config.Systemd.
var ErrSystemd = errors.New("the systemd cgroup driver is not supported yet: drop --systemd-cgroup")

// FreezerState is a cgroup's freezer state.
type FreezerState string

const (
	Thawed   FreezerState = "THAWED"
	Freezing FreezerState = "FREEZING" // asked to freeze; some task still runs
	Frozen   FreezerState = "FROZEN"
)

// Manager manages one container's cgroup. New returns the cgroup v2
// driver on a unified host and the v1 driver on hybrid and legacy hosts;
// both behave alike, except where v1 cannot (the package doc lists it).
//
// The runtime's order of calls:
//
//	m, _ := cgroups.New(host, cgroups.Config{Path: spec.Linux.CgroupsPath})
//	m.Create()                 // mkdir; nothing runs in it yet
//	m.Set(spec.Linux.Resources)
//	// start the container's init inside it: on v2 with
//	// SysProcAttr{UseCgroupFD: true, CgroupFD: fd from OpenUnified},
//	// otherwise m.Apply(pid) right after the fork
//	...
//	m.Kill(ctx, unix.SIGKILL)  // hull kill / delete --force
//	m.Destroy(ctx)             // hull delete: waits until empty, removes
type Manager interface {
	// Create makes the cgroup's directories (and missing parents) in
	// every hierarchy. It is undone if it fails halfway.
	Create() error
	// Apply moves a process the runtime started into the cgroup, in
	// every hierarchy.
	Apply(pid int) error
	// Plan says what Set would do, as printable data.
	Plan(r *specs.LinuxResources) (*Plan, error)
	// Set applies linux.resources: at create time, and again for
	// "hull update" with only the fields to change. Bad fields are
	// reported all at once, each with its path in the spec, before
	// anything is written. A write the kernel then refuses (a value out
	// of its range, a device that does not exist) stops Set there and
	// names the field; the writes before it stay.
	Set(r *specs.LinuxResources) error
	// Freeze stops every process and returns once all are frozen (or ctx
	// ends); Thaw resumes them.
	Freeze(ctx context.Context) error
	Thaw(ctx context.Context) error
	State() (FreezerState, error)
	// Kill sends sig to every process in the cgroup and its
	// descendants. SIGKILL goes through cgroup.kill where the kernel has
	// it (Linux 5.14, v2); other signals (and SIGKILL elsewhere) go to
	// each process while the cgroup is frozen, so that nothing forks
	// past the signal.
	Kill(ctx context.Context, sig unix.Signal) error
	// Pids lists the processes in the cgroup and its descendants.
	Pids() ([]int, error)
	// Stats reads the counters in the shape of runc's "events --stats".
	Stats() (*Stats, error)
	// OOM reports each OOM kill in the cgroup on the channel, which is
	// closed when ctx ends or the cgroup goes away.
	OOM(ctx context.Context) (<-chan struct{}, error)
	// Destroy waits until the cgroup is empty (until ctx ends, and no
	// longer than DestroyTimeout) and removes it with every cgroup the
	// container made below it, then the parents Create made
	// (Config.CreatedParents) that are empty. It does not kill: call
	// Kill first. A cgroup that is already gone is not an error. An
	// empty cgroup goes at once; else on v2 (and on hybrid hosts, in the
	// cgroup2 directory) it sleeps until cgroup.events says
	// "populated 0"; v1 alone has no such file, so it retries rmdir.
	Destroy(ctx context.Context) error
	// Created lists the parent directories (every hierarchy) that Create
	// made above the container's cgroup, top first, with those from
	// Config.CreatedParents: what a runtime keeps for Config.CreatedParents
	// of the Manager that will Destroy.
	Created() []string
	// Paths maps each v1 controller to the cgroup's directory in its
	// hierarchy, and "" to the cgroup2 directory: what the runtime binds
	// at the container's /sys/fs/cgroup.
	Paths() map[string]string
	// OpenUnified opens the cgroup2 directory (O_DIRECTORY|O_CLOEXEC)
	// for clone3's CLONE_INTO_CGROUP: exec.Cmd's
	// SysProcAttr.UseCgroupFD/CgroupFD. It fails with ErrNoUnified
	// where the container has no cgroup2 directory (legacy hosts).
	OpenUnified() (*os.File, error)
}

// ErrNoUnified: the container has no cgroup2 directory.
var ErrNoUnified = errors.New("no cgroup2 hierarchy on this host")

// DestroyTimeout bounds how long Destroy waits for a cgroup to empty.
const DestroyTimeout = 10 * time.Second

// New returns the Manager for cfg on host. It touches nothing: Create
// makes the cgroup.
func New(host *Host, cfg Config) (Manager, error) {
	if cfg.Systemd {
		return nil, ErrSystemd
	}
	if cfg.Path == "" {
		return nil, errors.New("linux.cgroupsPath: empty (the runtime should default it, as runc does, to /<container id>)")
	}
	for _, part := range strings.Split(cfg.Path, "/") {
		if part == ".." {
			return nil, fmt.Errorf("linux.cgroupsPath: %q: \"..\" is not allowed", cfg.Path)
		}
	}
	if strings.Contains(cfg.Path, ":") && !strings.HasPrefix(cfg.Path, "/") {
		return nil, fmt.Errorf("linux.cgroupsPath: %q looks like systemd's slice:prefix:name; %w", cfg.Path, ErrSystemd)
	}
	if host.Mode == Unified {
		return newV2(host, cfg)
	}
	return newV1(host, cfg)
}

// cgroupPath is the path of the container's cgroup inside a hierarchy
// where the caller sits at self.
func cgroupPath(cfgPath, self string) string {
	if path.IsAbs(cfgPath) {
		return path.Clean(cfgPath)
	}
	return path.Join("/", self, cfgPath)
}

// hierarchyDir places a cgroup path under a mount whose root shows
// mountRoot, failing when the mount cannot see it.
func hierarchyDir(mountPoint, mountRoot, cg string) (string, error) {
	if mountRoot != "" && mountRoot != "/" {
		rel, ok := strings.CutPrefix(cg, mountRoot)
		if !ok || rel != "" && rel[0] != '/' {
			return "", fmt.Errorf("linux.cgroupsPath: cgroup %s is outside what %s shows (%s)", cg, mountPoint, mountRoot)
		}
		cg = "/" + strings.TrimPrefix(rel, "/")
	}
	return filepath.Join(mountPoint, cg), nil
}

// mkdirAll makes dir and its missing parents, returning the ones it made,
// top first.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append([]string{d}, missing...)
		if d == "/" {
			break
		}
	}
	var made []string
	for _, d := range missing {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			removeDirs(made)
			return nil, notDelegated(filepath.Dir(d), err)
		}
		made = append(made, d)
	}
	return made, nil
}

// removeDirs removes cgroup directories, deepest first; rmdir on a
// cgroup removes its control files with it.
func removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i])
	}
}

// parentsOf checks Config.CreatedParents against the container's cgroup
// directories: each must lie strictly between a hierarchy's top (the
// caller's own cgroup, or the mount point) and the container's directory
// in it.
func parentsOf(parents []string, dirs, tops []string) error {
	var errs []error
	for i, p := range parents {
		p = filepath.Clean(p)
		ok := false
		for j, d := range dirs {
			if strings.HasPrefix(d, p+"/") && strings.HasPrefix(p, tops[j]+"/") {
				ok = true
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("cgroups: CreatedParents[%d]: %s is not a cgroup between the caller's own and the container's", i, p))
		}
	}
	return errors.Join(errs...)
}

// removeParents removes the parents the manager made, deepest first,
// while they are empty: a parent that still holds a process or another
// container's cgroup (EBUSY, ENOTEMPTY) stays, with its ancestors.
func removeParents(parents []string) error {
	sorted := slices.Clone(parents)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	var errs []error
	for _, p := range sorted {
		err := unix.Rmdir(p)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.EBUSY), errors.Is(err, unix.ENOTEMPTY):
			// In use: its ancestors are too, so their rmdir fails alike.
		default:
			errs = append(errs, &os.PathError{Op: "rmdir", Path: p, Err: err})
		}
	}
	return errors.Join(errs...)
}

// waitEmpty sleeps until the cgroup2 directory's cgroup.events says
// "populated 0" (no process in it or below), or the cgroup is gone, or
// ctx ends. The kernel notifies the file (fsnotify IN_MODIFY) whenever a
// key changes, so an inotify watch wakes us; the watch is added before
// the first read, so no change falls between them. cgroup.events is in
// every non-root cgroup2 directory since Linux 4.5; without it the
// caller falls back to retrying rmdir.
func waitEmpty(ctx context.Context, dir string) error {
	file := filepath.Join(dir, "cgroup.events")
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("inotify_init1", err)
	}
	f := os.NewFile(uintptr(fd), "inotify")
	defer f.Close()
	if _, err := unix.InotifyAddWatch(fd, file, unix.IN_MODIFY); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &os.PathError{Op: "inotify_add_watch", Path: file, Err: err}
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 4096)
	for {
		s := &statReader{dir: dir}
		ev := s.keyed("cgroup.events")
		if s.err != nil {
			return s.err
		}
		if ev == nil || ev["populated"] == 0 {
			return nil // gone, or empty
		}
		if _, err := f.Read(buf); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("wait for %s: %w", file, err)
		}
	}
}

// removeTree removes a cgroup and every cgroup below it, deepest first.
// A cgroup that still has processes fails with EBUSY. The rmdir is tried
// first: a container's cgroup has seldom any below it, and listing a
// directory of control files for them costs more than the rmdir.
func removeTree(dir string) error {
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	// Busy: cgroups below it, or processes in it.
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	err = unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return &os.PathError{Op: "rmdir", Path: dir, Err: err}
}

// removeNow removes each directory's tree once, and reports whether all
// went: what Destroy tries before it waits for processes to leave.
func removeNow(dirs []string) bool {
	ok := true
	for _, d := range dirs {
		if removeTree(d) != nil {
			ok = false
		}
	}
	return ok
}

// destroyDirs waits until rmdir of every dir succeeds: a cgroup cannot be
// removed while it holds a process, and a killed process leaves its cgroup
// only once the kernel has reaped it.
func destroyDirs(ctx context.Context, dirs []string, pids func() ([]int, error)) error {
	ctx, cancel := context.WithTimeout(ctx, DestroyTimeout)
	defer cancel()
	delay := time.Millisecond
	for {
		var errs []error
		for _, d := range dirs {
			if err := removeTree(d); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			left, _ := pids()
			return fmt.Errorf("remove cgroup: still busy (processes %v) after waiting: %w", left, errors.Join(errs...))
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// readPids reads cgroup.procs of dir and of every cgroup below it.
func readPids(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // a sub-cgroup removed while we walk
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("%s/cgroup.procs: %q is not a pid", p, f)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	sort.Ints(pids)
	return pids, err
}

// writeFile writes one value to a cgroup file: one write(2), as the
// kernel parses each write as a whole.
func writeFile(dir, file, value string) error {
	p := filepath.Join(dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return notDelegated(p, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil && file == "cgroup.procs" && errors.Is(err, unix.EACCES) {
		// The file was writable: the kernel also wants the cgroup.procs
		// of the closest cgroup above both the process's cgroup and this
		// one to be.
		return fmt.Errorf("write %q: moving a process also needs write access to cgroup.procs of the nearest common ancestor of its cgroup and %s, which for uid %d must lie inside the cgroup delegated to it: %w", value, dir, os.Geteuid(), err)
	}
	if err != nil {
		// Keep the errno reachable (errors.Is(err, unix.EBUSY)) and say
		// what was written.
		return fmt.Errorf("write %q: %w", value, err)
	}
	return nil
}

// notDelegated explains EACCES from a cgroup file or directory: the
// caller (a rootless runtime) was not given that part of the tree.
// cgroup v2 delegates a subtree to a user by making the user the owner of
// its directory and of its cgroup.procs, cgroup.subtree_control and
// cgroup.threads (Documentation/admin-guide/cgroup-v2.rst, "Delegation");
// below it the user creates cgroups, enables the controllers its parent
// gave it, and moves its own processes.
func notDelegated(file string, err error) error {
	if !errors.Is(err, unix.EACCES) {
		return err
	}
	return fmt.Errorf("%s is not writable for uid %d: that cgroup is not delegated to this user "+
		"(cgroup v2 delegates a cgroup by giving the user its directory and its cgroup.procs, cgroup.subtree_control "+
		"and cgroup.threads, as systemd does for a unit with Delegate=yes; run hull inside such a cgroup, "+
		"and name a cgroupsPath below it): %w", file, os.Geteuid(), err)
}

func readFile(dir, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	return strings.TrimSpace(string(b)), err
}

// signalAll freezes the cgroup, signals each process, and thaws it (unless
// it was frozen before): while frozen nothing can fork, so no new process
// escapes the signal. Signals arrive when the tasks thaw.
func signalAll(ctx context.Context, m Manager, sig unix.Signal) error {
	prev, err := m.State()
	if err != nil {
		return err
	}
	if err := m.Freeze(ctx); err != nil {
		return err
	}
	pids, err := m.Pids()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill(%d, %v): %w", pid, sig, err))
		}
	}
	if prev != Frozen {
		if err := m.Thaw(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// poll calls done with a growing delay until it reports true or ctx ends.
func poll(ctx context.Context, what string, done func() (bool, error)) error {
	delay := 100 * time.Microsecond
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}
