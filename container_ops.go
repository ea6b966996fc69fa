package hull

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/cgroups"
	"github.com/hullrt/hull/image/bundle"
	"github.com/hullrt/hull/runtime"
)

// Run creates a container and starts it: "hull container run -d". When it
// cannot start, the container is removed again.
func (e *Engine) Run(ctx context.Context, cfg ContainerConfig, o StartOptions) (*Container, error) {
	c, err := e.Create(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := e.Start(ctx, c.ID, o); err != nil {
		// A run that failed leaves nothing behind.
		_ = e.Remove(context.WithoutCancel(ctx), c.ID, true)
		return nil, err
	}
	return e.Inspect(ctx, c.ID)
}

// pollInterval is how often Wait and Stop look at a container's record.
const pollInterval = 50 * time.Millisecond

// Wait waits until the container is no longer running and returns its exit
// code. It also works for a container started with AutoRemove: the monitor
// removes it only after every Wait has read the code. To wait for a
// container that may exit as soon as it starts, take a Waiter before
// starting it.
func (e *Engine) Wait(ctx context.Context, ref string) (int, error) {
	w, err := e.Waiter(ctx, ref)
	if err != nil {
		return -1, err
	}
	defer w.Close()
	return w.Wait(ctx)
}

// A Waiter holds a container's exit code for its holder: while it is open
// the monitor of an AutoRemove container keeps the container (and its exit
// code) until the Waiter is closed.
type Waiter struct {
	e    *Engine
	ref  string
	dir  string
	lock *os.File // wait.lock, held shared
}

// Waiter registers the caller as waiting for the container's exit.
func (e *Engine) Waiter(ctx context.Context, ref string) (*Waiter, error) {
	id, err := e.resolve(ref)
	if err != nil {
		return nil, err
	}
	dir := e.dir(id)
	for {
		wl, err := flock(dir, waitLock, unix.LOCK_SH|unix.LOCK_NB)
		if err == nil {
			return &Waiter{e: e, ref: ref, dir: dir, lock: wl}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			// The directory is gone: removed meanwhile.
			return nil, fmt.Errorf("%s: %w", ref, ErrNoSuchContainer)
		}
		// The monitor is removing the container right now.
		if err := sleep(ctx, pollInterval); err != nil {
			return nil, err
		}
	}
}

// Wait waits until the container is no longer running and returns its
// exit code.
func (w *Waiter) Wait(ctx context.Context) (int, error) {
	for {
		c, err := readRecord(w.dir)
		if err != nil {
			return -1, fmt.Errorf("%s: %w", w.ref, ErrNoSuchContainer)
		}
		observe(c)
		switch c.State.Status {
		case ContainerExited:
			return c.State.ExitCode, nil
		case ContainerDead:
			return -1, fmt.Errorf("container %s: %s", c.Name, c.State.Error)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return -1, err
		}
	}
}

// Close lets the monitor of an AutoRemove container remove it.
func (w *Waiter) Close() error { return w.lock.Close() }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Stop sends the container its stop signal and, when it has not exited
// after timeout, SIGKILL; it returns once the monitor has recorded the exit.
// Stopping a dead container (its monitor gone) kills what is left of it
// and cleans up as the monitor would have.
func (e *Engine) Stop(ctx context.Context, ref string, timeout time.Duration) error {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Status == ContainerDead {
		lk, err := flock(c.Dir, opLock, unix.LOCK_EX)
		if err != nil {
			return err
		}
		defer lk.Close()
		return e.cleanup(ctx, c)
	}
	if !monitorAlive(c.Dir) {
		return nil
	}
	// No restart policy brings it back after this.
	if err := os.WriteFile(filepath.Join(c.Dir, stoppingFile), nil, 0o600); err != nil {
		return err
	}
	if c.State.Status != ContainerRunning { // between restarts
		if !e.waitStopped(ctx, c, 30*time.Second) {
			return fmt.Errorf("the monitor of %s did not exit", c.Name)
		}
		return nil
	}
	sig, err := parseSignal(c.StopSignal)
	if err != nil {
		return err
	}
	if err := e.rt.Kill(ctx, c.ID, sig, false); err != nil && !errors.Is(err, runtime.ErrNotRunning) && !errors.Is(err, runtime.ErrNotExist) {
		return err
	}
	if e.waitStopped(ctx, c, timeout) {
		return nil
	}
	// cgroup-wide: what the init left behind goes too.
	if err := e.rt.Kill(ctx, c.ID, unix.SIGKILL, true); err != nil && !errors.Is(err, runtime.ErrNotRunning) && !errors.Is(err, runtime.ErrNotExist) {
		return err
	}
	if !e.waitStopped(ctx, c, 30*time.Second) {
		return fmt.Errorf("container %s did not exit after SIGKILL", c.Name)
	}
	return nil
}

// waitStopped waits up to d for the monitor to have finished.
func (e *Engine) waitStopped(ctx context.Context, c *Container, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !monitorAlive(c.Dir) {
			return true
		}
		if time.Now().After(deadline) || sleep(ctx, pollInterval) != nil {
			return false
		}
	}
}

// cleanup does for a dead container what its monitor would have: kill what
// is left of it, release its runtime state, mount and network, and record it
// exited. Called with the container's operation lock held.
func (e *Engine) cleanup(ctx context.Context, c *Container) error {
	err := e.release(ctx, c)
	if c.State.Status != ContainerExited { // dead: killed below
		c.State.ExitCode = 137
		c.State.FinishedAt = time.Now().UTC()
	}
	c.State.Status = ContainerExited
	c.State.MonitorPid = 0
	if err != nil {
		return err
	}
	return writeRecord(c)
}

// RemoveOption changes what Remove removes.
type RemoveOption func(*removeOptions)

type removeOptions struct{ volumes bool }

// RemoveVolumes also removes the container's anonymous volumes that no
// other container uses ("rm -v"). Default: volumes are kept.
func RemoveVolumes() RemoveOption { return func(o *removeOptions) { o.volumes = true } }

// Remove removes a container that is not running (with force: after
// killing it), its writes and its log.
func (e *Engine) Remove(ctx context.Context, ref string, force bool, opts ...RemoveOption) error {
	var o removeOptions
	for _, opt := range opts {
		opt(&o)
	}
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Status == ContainerRunning || c.State.Status == ContainerDead {
		if !force {
			return fmt.Errorf("container %s is %s: stop it first, or remove with force", c.Name, c.State.Status)
		}
		if err := e.Stop(ctx, c.ID, 0); err != nil {
			return err
		}
	}
	lk, err := flock(c.Dir, opLock, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lk.Close()
	// A monitor that has recorded the exit may still be on its way out.
	if !e.waitStopped(ctx, c, 10*time.Second) {
		return fmt.Errorf("container %s was started again meanwhile", c.Name)
	}
	if err := e.removeDir(c); err != nil {
		return err
	}
	if o.volumes {
		return e.removeAnonymousVolumes(ctx, c)
	}
	return nil
}

// removeDir removes the container's directory, after making sure that
// nothing is mounted on its rootfs: removing through a mounted overlay would
// write whiteouts, not free anything.
func (e *Engine) removeDir(c *Container) error {
	if err := e.release(context.Background(), c); err != nil {
		return err
	}
	if mounted, err := isMountPoint(filepath.Join(c.Dir, "rootfs")); err != nil || mounted {
		return fmt.Errorf("container %s: rootfs is still mounted (%v)", c.Name, err)
	}
	return os.RemoveAll(c.Dir)
}

// ExecConfig is a process to run in a running container.
type ExecConfig struct {
	Cmd        []string
	Env        []string
	WorkingDir string
	// User is "uid[:gid]" or a name of the image's /etc/passwd.
	User string
	// Tty gives the process a terminal, whose master is sent to
	// ConsoleSocket (runc's protocol).
	Tty           bool
	ConsoleSocket string
	// Stdio of the process without a terminal; nil: /dev/null.
	Stdin, Stdout, Stderr *os.File
}

// Exec runs a process in every namespace and the cgroup of a running
// container, as the container's own process runs (its user, environment and
// capabilities, changed by cfg), and returns its exit code.
func (e *Engine) Exec(ctx context.Context, ref string, cfg ExecConfig, sigs <-chan os.Signal) (int, error) {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return -1, err
	}
	if c.State.Status != ContainerRunning {
		return -1, fmt.Errorf("container %s is %s, not running", c.Name, c.State.Status)
	}
	if len(cfg.Cmd) == 0 {
		return -1, errors.New("exec: no command")
	}
	s, err := e.rt.Config(ctx, c.ID)
	if err != nil {
		return -1, err
	}
	p := *s.Process
	p.Args = cfg.Cmd
	p.Terminal = cfg.Tty
	p.ConsoleSize = nil
	p.Env = mergeEnv(p.Env, cfg.Env)
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.User != "" {
		u, err := bundle.ResolveUser(filepath.Join(c.Dir, "rootfs"), cfg.User)
		if err != nil {
			return -1, err
		}
		p.User = u
	}
	proc, err := e.rt.Exec(ctx, c.ID, runtime.ExecOptions{
		Process: &p, ConsoleSocket: cfg.ConsoleSocket,
		Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr,
	})
	if err != nil {
		return -1, err
	}
	return proc.Wait(sigs)
}

// Kill sends sig to the container's init (all: to every process of it).
func (e *Engine) Kill(ctx context.Context, ref string, sig unix.Signal, all bool) error {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Status != ContainerRunning && c.State.Status != ContainerDead {
		return fmt.Errorf("container %s is %s, not running", c.Name, c.State.Status)
	}
	return e.rt.Kill(ctx, c.ID, sig, all)
}

// Restart stops the container (as Stop) and starts it again.
func (e *Engine) Restart(ctx context.Context, ref string, timeout time.Duration) error {
	if err := e.Stop(ctx, ref, timeout); err != nil {
		return err
	}
	return e.Start(ctx, ref, StartOptions{})
}

// Prune removes every container that is not running, dead ones (whose
// monitor is gone) included after cleaning up after them, and returns
// their IDs.
func (e *Engine) Prune(ctx context.Context) ([]string, error) {
	list, err := e.List(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, c := range list {
		if c.State.Status == ContainerRunning {
			continue
		}
		if err := e.Remove(ctx, c.ID, c.State.Status == ContainerDead); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, c.ID)
	}
	return removed, errors.Join(errs...)
}

// Stats returns the cgroup statistics of a running container.
func (e *Engine) Stats(ctx context.Context, ref string) (*cgroups.Stats, error) {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.State.Status != ContainerRunning {
		return nil, fmt.Errorf("container %s is %s, not running", c.Name, c.State.Status)
	}
	return e.rt.Stats(ctx, c.ID)
}

// Top returns the host PIDs of a running container's processes.
func (e *Engine) Top(ctx context.Context, ref string) ([]int, error) {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.State.Status != ContainerRunning {
		return nil, fmt.Errorf("container %s is %s, not running", c.Name, c.State.Status)
	}
	return e.rt.Pids(ctx, c.ID)
}
