package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/cgroups"
	"golang.org/x/sys/unix"
)

// Every linux.resources field goes through the cgroups package; this file
// only connects a container's record to its cgroups.Manager.

var hostCgroups struct {
	once sync.Once
	h    *cgroups.Host
	err  error
}

// cgroupHost probes the machine's cgroup mounts once per process.
func cgroupHost() (*cgroups.Host, error) {
	hostCgroups.once.Do(func() { hostCgroups.h, hostCgroups.err = cgroups.DetectHost("/") })
	return hostCgroups.h, hostCgroups.err
}

// manager returns the cgroup manager of a container.
func (r *Runtime) manager(rec *record) (cgroups.Manager, error) {
	if rec.NoCgroup {
		return nil, errNoCgroup
	}
	h, err := cgroupHost()
	if err != nil {
		return nil, err
	}
	m, err := cgroups.New(h, cgroups.Config{
		Path:           rec.cgroupsPath(),
		Systemd:        rec.Systemd,
		CreatedParents: rec.CgroupParents,
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// cgroupMounts splits a manager's paths into what MountCgroup binds: on
// a v1 or hybrid host one entry per hierarchy, named like its host mount
// ("cpu,cpuacct", "unified"); on a cgroup2 host the one directory.
func cgroupMounts(h *cgroups.Host, paths map[string]string) (v1 map[string]string, unified string) {
	if h.Mode == cgroups.Unified {
		return nil, paths[""]
	}
	v1 = map[string]string{}
	for ctrl, dir := range paths {
		if ctrl == "" {
			v1[filepath.Base(h.Unified)] = dir
			continue
		}
		if mp, ok := h.V1[ctrl]; ok {
			v1[filepath.Base(mp)] = dir
		}
	}
	return v1, ""
}

func (r *Runtime) cgroupFrozen(rec *record) (bool, error) {
	if rec.NoCgroup {
		return false, nil
	}
	m, err := r.manager(rec)
	if err != nil {
		return false, err
	}
	st, err := m.State()
	if err != nil {
		return false, err
	}
	return st == cgroups.Frozen, nil
}

// destroyCgroup kills what is left in the container's cgroup and removes
// it. A cgroup already gone is fine.
func (r *Runtime) destroyCgroup(ctx context.Context, rec *record) error {
	if rec.NoCgroup {
		return nil
	}
	// A v1 freeze can wait forever on a task that never freezes: bound
	// every cgroup operation of a cleanup.
	ctx, cancel := context.WithTimeout(ctx, cgroupOpTimeout)
	defer cancel()
	m, err := r.manager(rec)
	if err != nil {
		return err
	}
	if pids, _ := m.Pids(); len(pids) > 0 {
		if st, _ := m.State(); st != cgroups.Thawed {
			_ = m.Thaw(ctx)
		}
		if err := m.Kill(ctx, unix.SIGKILL); err != nil {
			return fmt.Errorf("kill the container's processes: %w", err)
		}
	}
	if err := m.Destroy(ctx); err != nil {
		return err
	}
	return nil
}

// cgroupOpTimeout bounds freezer-based operations (kill --all on v1,
// pause, cleanup) so that no command hangs on a cgroup that cannot
// freeze.
const cgroupOpTimeout = 30 * time.Second

var errNoCgroup = errors.New("the container has no cgroup: this host delegates no cgroup to its user (rootless)")

// createCgroup makes the container's cgroup. A rootless container whose
// user may not create cgroups runs without one, as runc does, provided it
// asks for no resource limits; the caller is told through the logger.
func (r *Runtime) createCgroup(rec *record) (cgroups.Manager, error) {
	mgr, err := r.manager(rec)
	if err == nil {
		err = mgr.Create()
	}
	if err == nil {
		rec.CgroupParents = mgr.Created()
		return mgr, nil
	}
	if os.Geteuid() != 0 && (errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS)) {
		if res := rec.Spec.Linux.Resources; res != nil && !onlyDevices(res) {
			return nil, fmt.Errorf("linux.resources: set, but %w (%v)", errNoCgroup, err)
		}
		r.log.Warn("running without a cgroup", "container", rec.ID, "reason", err)
		rec.NoCgroup = true
		return nil, nil
	}
	return nil, err
}

// onlyDevices reports whether resources hold nothing but device rules,
// which a rootless container cannot need: it cannot mknod anyway.
func onlyDevices(r *specs.LinuxResources) bool {
	c := *r
	c.Devices = nil
	return reflect.DeepEqual(c, specs.LinuxResources{})
}
