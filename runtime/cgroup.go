package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

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
	h, err := cgroupHost()
	if err != nil {
		return nil, err
	}
	m, err := cgroups.New(h, cgroups.Config{Path: cgroupsPathOf(rec.Spec, rec.ID), Systemd: rec.Systemd})
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

var errNoCgroup = errors.New("the container has no cgroup")
