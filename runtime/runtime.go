package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Runtime manages the containers whose state lives under one root
// directory (runc's --root). Its methods are safe to call from several
// processes at once on the same container: each takes the container's
// lock.
type Runtime struct {
	root    string
	log     *slog.Logger
	systemd bool
}

// Option configures a Runtime.
type Option func(*options) error

type options struct {
	log     *slog.Logger
	systemd bool
}

// WithLogger sends the runtime's debug and warning messages to l. The
// default discards them: the library never prints.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// WithSystemdCgroup makes cgroupsPath "slice:prefix:name", placed through
// systemd (runc's --systemd-cgroup). Default: off, cgroupsPath is a path.
func WithSystemdCgroup(on bool) Option {
	return func(o *options) error { o.systemd = on; return nil }
}

// New returns a Runtime keeping state under root, which it creates (mode
// 0700) if needed.
func New(root string, opts ...Option) (*Runtime, error) {
	o := options{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, err
	}
	return &Runtime{root: abs, log: o.log, systemd: o.systemd}, nil
}

// Root returns the state directory.
func (r *Runtime) Root() string { return r.root }

func (r *Runtime) dir(id string) string { return filepath.Join(r.root, id) }

// open locks a container's directory and reads its state.json. A missing
// directory or state file is ErrNotExist.
//
// how is LOCK_EX for commands that change the container, or 0 for those
// that only read it: state.json is replaced atomically (rename), so a
// reader needs no lock and never waits for a create that runs hooks.
func (r *Runtime) open(id string, how int) (*lockedDir, *record, error) {
	if err := checkID(id); err != nil {
		return nil, nil, err
	}
	if how == 0 {
		d := &lockedDir{path: r.dir(id)}
		rec, err := d.read()
		if isNotExist(err) {
			return nil, nil, fmt.Errorf("container %s %w", id, ErrNotExist)
		}
		if err != nil {
			return nil, nil, err
		}
		return d, rec, nil
	}
	lk, err := lockDir(r.dir(id), how)
	if err != nil {
		if isNotExist(err) {
			return nil, nil, fmt.Errorf("container %s %w", id, ErrNotExist)
		}
		return nil, nil, err
	}
	rec, err := lk.read()
	if err != nil {
		lk.unlock()
		if isNotExist(err) {
			return nil, nil, fmt.Errorf("container %s %w", id, ErrNotExist)
		}
		return nil, nil, err
	}
	return lk, rec, nil
}

// status derives the OCI status from the record and the kernel: a dead
// init is stopped whatever the record says; a live one waiting on
// exec.fifo is created; a frozen cgroup is paused.
func (r *Runtime) status(rec *record) Status {
	if !rec.alive() {
		return Stopped
	}
	if rec.Phase == phaseCreating {
		return Creating
	}
	if _, err := os.Lstat(filepath.Join(r.dir(rec.ID), fifoFile)); err == nil && !execed(rec.Pid, rec.InitExe) {
		// (A fifo left by a "start" killed after it released the init
		// no longer means created: the program runs.)
		return Created
	}
	if frozen, _ := r.cgroupFrozen(rec); frozen {
		return Paused
	}
	return Running
}

func (r *Runtime) stateOf(rec *record) *State {
	st := &State{
		Version:     rec.view().Version,
		ID:          rec.ID,
		Status:      r.status(rec),
		Bundle:      rec.Bundle,
		Rootfs:      rec.Rootfs,
		Created:     rec.Created,
		Owner:       fileOwner(r.dir(rec.ID)),
		Annotations: rec.Annotations,
	}
	if st.Status != Stopped {
		st.Pid = rec.Pid
	}
	return st
}

// State returns a container's state.
func (r *Runtime) State(ctx context.Context, id string) (*State, error) {
	lk, rec, err := r.open(id, 0)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	return r.stateOf(rec), nil
}

// List returns the state of every container under the root, sorted by id.
// A directory without a readable state (a create killed before it wrote
// one) is skipped.
func (r *Runtime) List(ctx context.Context) ([]*State, error) {
	ents, err := os.ReadDir(r.root)
	if err != nil {
		return nil, err
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		st, err := r.State(ctx, e.Name())
		if err != nil {
			continue
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Config returns the spec a container was created from.
func (r *Runtime) Config(ctx context.Context, id string) (*specs.Spec, error) {
	lk, rec, err := r.open(id, 0)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	return rec.spec()
}
