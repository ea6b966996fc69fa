package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1 is the driver for legacy and hybrid hosts: one directory per
// mounted v1 hierarchy (co-mounted controllers such as cpu,cpuacct share
// one), and on a hybrid host one in the cgroup2 hierarchy too, which
// holds the controllers bound there (hugetlb on our development hosts)
// and offers cgroup.freeze and cgroup.kill.
type v1 struct {
	host    *Host
	paths   map[string]string // controller → directory; "" → cgroup2 directory
	unified *v2               // the cgroup2 side on a hybrid host
	created []string          // parents made by Create or given in Config.CreatedParents
}

func newV1(host *Host, cfg Config) (*v1, error) {
	m := &v1{host: host, paths: map[string]string{}}
	for c, mp := range host.V1 {
		dir, err := hierarchyDir(mp, host.MountRoot[c], cgroupPath(cfg.Path, host.SelfV1[c]))
		if err != nil {
			return nil, err
		}
		if dir == host.SelfDir(c) || dir == mp {
			return nil, fmt.Errorf("linux.cgroupsPath: %q is the caller's own %s cgroup (or the root); the container needs a cgroup of its own", cfg.Path, c)
		}
		m.paths[c] = dir
	}
	var dirs, tops []string
	for c, d := range m.paths {
		top := host.V1[c]
		if self := host.SelfDir(c); strings.HasPrefix(d, self+"/") {
			top = self
		}
		dirs, tops = append(dirs, d), append(tops, top)
	}
	if host.Unified != "" {
		// The cgroup2 side is a bonus on a v1 host: when its mount
		// cannot hold this cgroup (it shows another cgroup namespace's
		// tree), do without it.
		u2 := Config{Path: cfg.Path}
		if u, err := newV2(host, u2); err == nil {
			m.unified = u
			m.paths[""] = u.dir
			dirs, tops = append(dirs, u.dir), append(tops, u.top)
		}
	}
	if err := parentsOf(cfg.CreatedParents, dirs, tops); err != nil {
		return nil, err
	}
	m.created = cfg.CreatedParents
	return m, nil
}

func (m *v1) Created() []string { return slices.Clone(m.created) }

func (m *v1) Paths() map[string]string {
	out := make(map[string]string, len(m.paths))
	for k, v := range m.paths {
		out[k] = v
	}
	return out
}

// dirs lists each directory once (co-mounted controllers share one),
// sorted.
func (m *v1) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range m.paths {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

func (m *v1) Create() error {
	var made []string
	for _, d := range m.dirs() {
		dirs, err := mkdirAll(d)
		if err != nil {
			removeDirs(made)
			return fmt.Errorf("create cgroup: %w", err)
		}
		made = append(made, dirs...)
	}

	// A new cpuset cgroup starts with no CPUs and no memory nodes, and
	// takes no task until it has both: copy them from the parent, top
	// down, as cgroup.clone_children would.
	if cs, ok := m.paths["cpuset"]; ok {
		for _, d := range made {
			if d != cs && !strings.HasPrefix(cs, d+"/") {
				continue
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				cur, err := readFile(d, f)
				if err == nil && cur == "" {
					var parent string
					if parent, err = readFile(filepath.Dir(d), f); err == nil {
						err = writeFile(d, f, parent)
					}
				}
				if err != nil {
					removeDirs(made)
					return fmt.Errorf("create cgroup: %s: %w", filepath.Join(d, f), err)
				}
			}
		}
	}
	own := m.dirs()
	for _, d := range made {
		if !slices.Contains(own, d) && !slices.Contains(m.created, d) {
			m.created = append(m.created, d)
		}
	}
	return nil
}

func (m *v1) Apply(pid int) error {
	for _, d := range m.dirs() {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move process %d into %s: %w", pid, d, err)
		}
	}
	return nil
}

func (m *v1) OpenUnified() (*os.File, error) {
	if m.unified == nil {
		return nil, ErrNoUnified
	}
	return m.unified.OpenUnified()
}

// Plan probes the container's cgroups for the kernel's optional files,
// or before Create (hull create --explain) the nearest existing parents.
func (m *v1) Plan(r *specs.LinuxResources) (*Plan, error) {
	near := map[string]string{}
	for c, d := range m.paths {
		for ; d != "/" && d != "."; d = filepath.Dir(d) {
			if _, err := os.Stat(d); err == nil {
				near[c] = d
				break
			}
		}
	}
	f := probe(near, r)
	if r != nil && len(r.Devices) > 0 && near["devices"] == m.paths["devices"] {
		// The writes go from what the cgroup has now (only its own list:
		// a parent's is not the container's).
		list, err := readFile(m.paths["devices"], "devices.list")
		if err != nil {
			return nil, fmt.Errorf("linux.resources.devices: %w", err)
		}
		f.DevicesList = &list
	}
	return PlanV1(r, m.host, f)
}

func (m *v1) Set(r *specs.LinuxResources) error {
	p, err := m.Plan(r)
	if err != nil {
		return err
	}
	if len(p.Enable) > 0 && m.unified != nil {
		if err := m.unified.enable(p.Enable); err != nil {
			return err
		}
		// The hugetlb files exist only now: plan again for them.
		if p, err = m.Plan(r); err != nil {
			return err
		}
	}
	if p.CheckMemory > 0 {
		cur, err := readFile(m.paths["memory"], "memory.usage_in_bytes")
		if err != nil {
			return fmt.Errorf("linux.resources.memory.checkBeforeUpdate: %w", err)
		}
		if n, _ := strconv.ParseInt(cur, 10, 64); n > p.CheckMemory {
			return fmt.Errorf("linux.resources.memory.limit: %d is below the current usage %d (checkBeforeUpdate)", p.CheckMemory, n)
		}
	}
	memswBefore := "" // memory+swap's limit before this Set lifted it
	for _, w := range p.Writes {
		dir, ok := m.paths[w.Hierarchy]
		if !ok {
			return fmt.Errorf("%s: no %q hierarchy", w.Field, w.Hierarchy)
		}
		if w.File == "memory.memsw.limit_in_bytes" && w.Value == "-1" && memswBefore == "" {
			memswBefore, _ = readFile(dir, w.File)
		}
		if err := writeFile(dir, w.File, w.Value); err != nil {
			err = fmt.Errorf("%s: %s: %w", w.Field, filepath.Join(dir, w.File), err)
			if w.File == "memory.limit_in_bytes" && memswBefore != "" {
				// memoryV1 lifts memory+swap before it sets the memory
				// limit, which the kernel refuses (EBUSY) below what the
				// cgroup uses: put memory+swap back, so that a refused
				// update leaves both limits as they were.
				if rerr := writeFile(dir, "memory.memsw.limit_in_bytes", memswBefore); rerr != nil {
					err = errors.Join(err, fmt.Errorf("restore memory.memsw.limit_in_bytes to %s: %w", memswBefore, rerr))
				}
			}
			return err
		}
	}
	return nil
}

// Freeze uses the v1 freezer, or the cgroup2 side's cgroup.freeze on a
// hybrid host without a freezer hierarchy.
func (m *v1) Freeze(ctx context.Context) error {
	dir, ok := m.paths["freezer"]
	if !ok {
		if m.unified == nil {
			return errors.New("freeze: no freezer hierarchy is mounted")
		}
		return m.unified.Freeze(ctx)
	}
	return freezeV1(ctx, dir) // freezer_v1.go
}

func (m *v1) Thaw(ctx context.Context) error {
	dir, ok := m.paths["freezer"]
	if !ok {
		if m.unified == nil {
			return errors.New("thaw: no freezer hierarchy is mounted")
		}
		return m.unified.Thaw(ctx)
	}
	if err := writeFile(dir, "freezer.state", string(Thawed)); err != nil {
		return fmt.Errorf("thaw %s: %w", dir, err)
	}
	return poll(ctx, "thaw "+dir, func() (bool, error) {
		st, err := m.State()
		return st == Thawed, err
	})
}

func (m *v1) State() (FreezerState, error) {
	dir, ok := m.paths["freezer"]
	if !ok {
		if m.unified == nil {
			return Thawed, nil
		}
		return m.unified.State()
	}
	st, err := readFile(dir, "freezer.state")
	if err != nil {
		return "", err
	}
	return FreezerState(st), nil
}

// Kill uses the cgroup2 side's cgroup.kill for SIGKILL on a hybrid host:
// the container's processes are in that cgroup too.
func (m *v1) Kill(ctx context.Context, sig unix.Signal) error {
	if sig == unix.SIGKILL && m.unified != nil {
		err := writeFile(m.unified.dir, "cgroup.kill", "1")
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return signalAll(ctx, m, sig)
}

// Pids reads one hierarchy: every process is in all of them.
func (m *v1) Pids() ([]int, error) {
	for _, c := range []string{"freezer", "pids", "memory", "cpu", "devices"} {
		if d, ok := m.paths[c]; ok {
			return readPids(d)
		}
	}
	ds := m.dirs()
	if len(ds) == 0 {
		return nil, errors.New("no cgroup hierarchy")
	}
	return readPids(ds[0])
}

func (m *v1) Stats() (*Stats, error) { return statsV1(m.paths, hugePageSizes()) }

func (m *v1) OOM(ctx context.Context) (<-chan struct{}, error) {
	dir, ok := m.paths["memory"]
	if !ok {
		return nil, errors.New("oom events: no memory hierarchy is mounted")
	}
	return watchOOMv1(ctx, dir)
}

// Destroy removes the directories at once when it can (the container's
// processes have usually gone: delete comes after the init's exit), or
// else waits and retries rmdir: v1 has no cgroup.events. On a hybrid
// host the container's processes are in its cgroup2 directory too, whose
// cgroup.events says when they have all gone.
func (m *v1) Destroy(ctx context.Context) error {
	if removeNow(m.dirs()) {
		return removeParents(m.created)
	}
	ctx, cancel := context.WithTimeout(ctx, DestroyTimeout)
	defer cancel()
	if m.unified != nil {
		if err := waitEmpty(ctx, m.unified.dir); err != nil && ctx.Err() == nil {
			return err
		}
	}
	if err := destroyDirs(ctx, m.dirs(), m.Pids); err != nil {
		return err
	}
	return removeParents(m.created)
}
