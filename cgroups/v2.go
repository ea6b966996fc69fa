package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v2 is the cgroup v2 driver: one directory in the unified hierarchy.
type v2 struct {
	dir string
	// top is the directory from which controllers are enabled on the
	// way down: the caller's own cgroup when the container's lies below
	// it, the root of the mount otherwise. available is what top offers.
	top       string
	available []string
	created   []string // parents made by Create or given in Config.CreatedParents
}

func newV2(host *Host, cfg Config) (*v2, error) {
	if host.Unified == "" {
		return nil, ErrNoUnified
	}
	cg := cgroupPath(cfg.Path, host.Self)
	dir, err := hierarchyDir(host.Unified, host.MountRoot[""], cg)
	if err != nil {
		return nil, err
	}
	m := &v2{dir: dir, top: host.Unified, available: host.Controllers}
	if self := host.SelfDir(""); self != "" && strings.HasPrefix(dir, self+"/") {
		m.top, m.available = self, host.Delegated
	}
	if dir == m.top {
		return nil, fmt.Errorf("linux.cgroupsPath: %q is the caller's own cgroup (or the root); the container needs a cgroup of its own", cfg.Path)
	}
	if err := parentsOf(cfg.CreatedParents, []string{dir}, []string{m.top}); err != nil {
		return nil, err
	}
	m.created = cfg.CreatedParents
	return m, nil
}

func (m *v2) Created() []string { return slices.Clone(m.created) }

func (m *v2) Paths() map[string]string { return map[string]string{"": m.dir} }

func (m *v2) Create() error {
	made, err := mkdirAll(m.dir)
	if err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	for _, d := range made {
		if d != m.dir && !slices.Contains(m.created, d) {
			m.created = append(m.created, d)
		}
	}
	return nil
}

func (m *v2) OpenUnified() (*os.File, error) {
	return os.OpenFile(m.dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func (m *v2) Apply(pid int) error {
	err := writeFile(m.dir, "cgroup.procs", strconv.Itoa(pid))
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("move process %d into %s: the cgroup has controllers enabled in its cgroup.subtree_control, and only leaf cgroups may hold processes: %w", pid, m.dir, err)
	}
	if err != nil {
		return fmt.Errorf("move process %d into %s: %w", pid, m.dir, err)
	}
	return nil
}

// optimistic are features assumed for finding the controllers a plan
// needs, before they are enabled and the real features can be probed.
var optimistic = Features{Swap: true, BFQ: true, BFQDevice: true, HugetlbRsvd: true}

// Plan probes the container's cgroup for the kernel's optional files.
// Before Create (hull create --explain) there is none to probe: it then
// assumes what every kernel hull targets has (swap accounting, hugetlb
// reservations) and no BFQ.
func (m *v2) Plan(r *specs.LinuxResources) (*Plan, error) {
	f := optimistic
	f.BFQ, f.BFQDevice = false, false
	if _, err := os.Stat(m.dir); err == nil {
		f = probe(m.Paths(), r)
	}
	if r == nil || len(r.HugepageLimits) > 0 {
		f.HugePageSizes = hugePageSizes()
	}
	return PlanV2(r, m.available, f)
}

func (m *v2) Set(r *specs.LinuxResources) error {
	// Plan once to check every field and learn the controllers, enable
	// them (the optional files appear only then), then plan for real.
	pre, err := PlanV2(r, m.available, optimistic)
	if err != nil {
		return err
	}
	if err := m.enable(pre.Enable); err != nil {
		return err
	}
	p, err := m.Plan(r)
	if err != nil {
		return err
	}
	return m.apply(p)
}

func (m *v2) apply(p *Plan) error {
	if p.CheckMemory > 0 {
		cur, err := readFile(m.dir, "memory.current")
		if err != nil {
			return fmt.Errorf("linux.resources.memory.checkBeforeUpdate: %w", err)
		}
		if n, _ := strconv.ParseInt(cur, 10, 64); n > p.CheckMemory {
			return fmt.Errorf("linux.resources.memory.limit: %d is below the current usage %d (checkBeforeUpdate)", p.CheckMemory, n)
		}
	}
	for _, w := range p.Writes {
		if err := writeFile(m.dir, w.File, w.Value); err != nil {
			return fmt.Errorf("%s: %s: %w", w.Field, w.File, err)
		}
	}
	if p.Devices != nil {
		if err := m.setDevices(p.Devices); err != nil {
			return fmt.Errorf("linux.resources.devices: %w", err)
		}
	}
	return nil
}

// enable turns the controllers on in cgroup.subtree_control of every
// cgroup from top down to the container's parent.
func (m *v2) enable(controllers []string) error {
	if len(controllers) == 0 {
		return nil
	}
	rel, err := filepath.Rel(m.top, filepath.Dir(m.dir))
	if err != nil {
		return err
	}
	dirs := []string{m.top}
	if rel != "." {
		d := m.top
		for _, part := range strings.Split(rel, "/") {
			d = filepath.Join(d, part)
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		on, err := readFile(d, "cgroup.subtree_control")
		if err != nil {
			return fmt.Errorf("enable controllers: %w", err)
		}
		avail, err := readFile(d, "cgroup.controllers")
		if err != nil {
			return fmt.Errorf("enable controllers: %w", err)
		}
		for _, c := range controllers {
			if slices.Contains(strings.Fields(on), c) {
				continue
			}
			if !slices.Contains(strings.Fields(avail), c) {
				return fmt.Errorf("enable the %s controller in %s: not delegated to it (its cgroup.controllers: %q)", c, d, avail)
			}
			err := writeFile(d, "cgroup.subtree_control", "+"+c)
			if errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("enable the %s controller in %s: the cgroup holds processes, and cgroup v2 lets only leaf cgroups hold processes when controllers are enabled below them (the no-internal-processes rule); run hull from a leaf of a delegated subtree or give an absolute cgroupsPath: %w", c, d, err)
			}
			if err != nil {
				return fmt.Errorf("enable the %s controller in %s: %w", c, d, err)
			}
		}
	}
	return nil
}

// setDevices attaches the new filter, then detaches the ones attached
// before (an update). In between both run, which only ever denies more.
func (m *v2) setDevices(f *DeviceFilter) error {
	dir, err := m.OpenUnified()
	if err != nil {
		return err
	}
	defer dir.Close()
	old, err := attachedDeviceFilters(dir)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range old {
			p.Close()
		}
	}()
	prog, err := loadDeviceFilter(f.Insns)
	if err != nil {
		return err
	}
	defer prog.Close() // the attachment holds its own reference
	if err := attachDeviceFilter(dir, prog); err != nil {
		return err
	}
	var errs []error
	for _, p := range old {
		if err := detachDeviceFilter(dir, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *v2) Freeze(ctx context.Context) error {
	if err := writeFile(m.dir, "cgroup.freeze", "1"); err != nil {
		return fmt.Errorf("freeze %s: %w", m.dir, err)
	}
	return poll(ctx, "freeze "+m.dir, func() (bool, error) {
		st, err := m.State()
		return st == Frozen, err
	})
}

func (m *v2) Thaw(ctx context.Context) error {
	if err := writeFile(m.dir, "cgroup.freeze", "0"); err != nil {
		return fmt.Errorf("thaw %s: %w", m.dir, err)
	}
	return poll(ctx, "thaw "+m.dir, func() (bool, error) {
		st, err := m.State()
		return st == Thawed, err
	})
}

// State reads cgroup.freeze (what was asked) and the "frozen" key of
// cgroup.events (what the kernel has done).
func (m *v2) State() (FreezerState, error) {
	want, err := readFile(m.dir, "cgroup.freeze")
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(m.dir); err != nil {
			return "", err
		}
		return Thawed, nil // kernel before 5.2: no freezer
	}
	if err != nil {
		return "", err
	}
	ev := (&statReader{dir: m.dir}).keyed("cgroup.events")
	switch {
	case ev["frozen"] == 1:
		return Frozen, nil
	case want == "1":
		return Freezing, nil
	}
	return Thawed, nil
}

func (m *v2) Kill(ctx context.Context, sig unix.Signal) error {
	if sig == unix.SIGKILL {
		err := writeFile(m.dir, "cgroup.kill", "1")
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if _, serr := os.Stat(m.dir); serr != nil {
			return serr
		}
		// Before Linux 5.14: one process at a time.
	}
	return signalAll(ctx, m, sig)
}

func (m *v2) Pids() ([]int, error) { return readPids(m.dir) }

func (m *v2) Stats() (*Stats, error) { return statsV2(m.dir, hugePageSizes()) }

func (m *v2) OOM(ctx context.Context) (<-chan struct{}, error) { return watchOOMv2(ctx, m.dir) }

func (m *v2) Destroy(ctx context.Context) error {
	if removeNow([]string{m.dir}) { // empty already: the usual case
		return removeParents(m.created)
	}
	ctx, cancel := context.WithTimeout(ctx, DestroyTimeout)
	defer cancel()
	if err := waitEmpty(ctx, m.dir); err != nil && ctx.Err() == nil {
		return err
	}
	// Empty (or ctx has ended: then rmdir says EBUSY with the pids).
	if err := destroyDirs(ctx, []string{m.dir}, m.Pids); err != nil {
		return err
	}
	return removeParents(m.created)
}
