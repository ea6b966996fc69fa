package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"os/exec"

	"github.com/hullrt/hull/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrNotRunning is returned for a signal or pause of a stopped container.
var ErrNotRunning = errors.New("container not running")

// Start lets a created container's init exec the program: it opens
// exec.fifo for reading, which releases the init's blocked open, reads
// the init's byte, removes the fifo and runs the poststart hooks.
func (r *Runtime) Start(ctx context.Context, id string) error {
	lk, rec, err := r.open(id, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lk.unlock()
	return r.start(ctx, lk, rec)
}

// relock takes the lock of a container that this process created, whose
// record it holds: state.json need not be read again (only create writes
// it, and a container deleted and created again since is a new
// directory whose init is not rec's: its status is Stopped).
func (r *Runtime) relock(rec *record) (*lockedDir, error) {
	lk, err := lockDir(r.dir(rec.ID), unix.LOCK_EX)
	if isNotExist(err) {
		return nil, fmt.Errorf("container %s %w", rec.ID, ErrNotExist)
	}
	return lk, err
}

func (r *Runtime) start(ctx context.Context, lk *lockedDir, rec *record) error {
	switch st := r.status(rec); st {
	case Created:
	case Stopped:
		return fmt.Errorf("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already running container")
	}
	fifo := filepath.Join(lk.path, fifoFile)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: fifo, Err: err}
	}
	defer unix.Close(fd)
	// The init reaches the fifo through its own fd, not the path: the
	// name can go now, so that a start killed from here on leaves a
	// running container, not one that looks created.
	if err := os.Remove(fifo); err != nil {
		return err
	}
	// The init writes one byte once its open returns, and keeps its end
	// open, close-on-exec, until execve has replaced it with the
	// program: the fifo then reads as ended. Return only then: a v1
	// freezer that catches the init inside execve (which waits for its
	// other threads to die) can stay FREEZING forever, so a pause right
	// after start must find it done. (A poll timeout lets us notice an
	// init that died before it opened the fifo.)
	buf := make([]byte, 1)
	got := false
	for {
		n, err := unix.Read(fd, buf)
		if n == 1 {
			got = true
			continue
		}
		if n == 0 && err == nil && got {
			break // the end: execve (or the init's death) closed it
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return &os.PathError{Op: "read", Path: fifo, Err: err}
		}
		if !rec.alive() {
			// Since the read above, the init may have written its
			// byte, exec'd and its program exited (a "true" on a busy
			// machine): the byte is still in the fifo.
			if !got {
				n, _ := unix.Read(fd, buf)
				got = n == 1
			}
			if !got {
				return fmt.Errorf("cannot start a container that has stopped")
			}
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(pfd, 50)
	}
	// An init of an older hull closed its end before execve: wait for
	// the exec itself then (at once when it is done).
	waitExecve(ctx, rec.Pid, rec.InitExe)
	if len(hookList(rec.view().Hooks, "poststart")) == 0 {
		return nil // the state is for the hooks: no need to read it
	}
	st := r.stateOf(rec).OCI()
	if err := runHooks(rec.view().Hooks, "poststart", st); err != nil {
		// The program runs already; the spec makes a failed poststart
		// hook a warning, which hull returns to its caller.
		return fmt.Errorf("container started, but: %w", err)
	}
	return nil
}

// Kill sends sig to the container's init, or with all to every process
// in its cgroup.
func (r *Runtime) Kill(ctx context.Context, id string, sig unix.Signal, all bool) error {
	lk, rec, err := r.open(id, 0)
	if err != nil {
		return err
	}
	defer lk.unlock()
	status := r.status(rec)
	if all {
		m, err := r.manager(rec)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, cgroupOpTimeout)
		defer cancel()
		return m.Kill(ctx, sig)
	}
	if status == Stopped {
		return ErrNotRunning
	}
	return signalInit(rec, sig)
}

// signalInit signals the init through a pidfd, after checking that the
// pid still names the same process, so that a recycled pid is never hit.
func signalInit(rec *record, sig unix.Signal) error {
	pfd, err := unix.PidfdOpen(rec.Pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return ErrNotRunning
		}
		return &os.SyscallError{Syscall: "pidfd_open", Err: err}
	}
	defer unix.Close(pfd)
	if !rec.alive() {
		return ErrNotRunning
	}
	if err := unix.PidfdSendSignal(pfd, sig, nil, 0); err != nil {
		if err == unix.ESRCH {
			return ErrNotRunning
		}
		return &os.SyscallError{Syscall: "pidfd_send_signal", Err: err}
	}
	return nil
}

// Delete removes a stopped (or created) container: poststop hooks, its
// cgroup, its state. With force it first kills a running one.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	if err := checkID(id); err != nil {
		return err
	}
	lk, rec, err := r.open(id, unix.LOCK_EX)
	if errors.Is(err, ErrNotExist) {
		// A create killed before it wrote state.json leaves a bare
		// directory: remove it as runc does.
		dir := r.dir(id)
		if _, serr := os.Stat(dir); serr == nil {
			if rerr := os.RemoveAll(dir); rerr != nil {
				return rerr
			}
			if force {
				return nil
			}
		} else if force {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	defer lk.unlock()
	return r.delete(ctx, lk, rec, force)
}

func (r *Runtime) delete(ctx context.Context, lk *lockedDir, rec *record, force bool) error {
	switch st := r.status(rec); st {
	case Stopped:
	case Created, Creating:
		// Never started: nothing of the user's ran, it goes quietly.
		if err := r.killAndWait(ctx, rec); err != nil {
			return err
		}
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", rec.ID, st)
		}
		if err := r.killAndWait(ctx, rec); err != nil {
			return err
		}
	}
	return r.destroy(ctx, lk, rec)
}

// killAndWait SIGKILLs every process of the container and waits for the
// init to be gone.
func (r *Runtime) killAndWait(ctx context.Context, rec *record) error {
	if m, err := r.manager(rec); err == nil {
		cctx, cancel := context.WithTimeout(ctx, cgroupOpTimeout)
		if st, _ := m.State(); st != cgroups.Thawed {
			_ = m.Thaw(cctx)
		}
		_ = m.Kill(cctx, unix.SIGKILL)
		cancel()
	}
	pfd, err := unix.PidfdOpen(rec.Pid, 0)
	if err != nil {
		return nil // already gone
	}
	defer unix.Close(pfd)
	if !rec.alive() {
		return nil
	}
	if err := unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0); err != nil && err != unix.ESRCH {
		return &os.SyscallError{Syscall: "pidfd_send_signal", Err: err}
	}
	// A pidfd polls readable once the process has exited.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pfds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfds, 100)
		if n > 0 {
			return nil
		}
		if err != nil && err != unix.EINTR {
			return &os.SyscallError{Syscall: "poll(pidfd)", Err: err}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("container %s: init %d did not die after SIGKILL", rec.ID, rec.Pid)
}

// destroy is the end of a container: its cgroup goes, the poststop hooks
// run, the state directory goes.
func (r *Runtime) destroy(ctx context.Context, lk *lockedDir, rec *record) error {
	var errs []error
	if err := r.destroyCgroup(ctx, rec); err != nil {
		errs = append(errs, err)
	}
	if err := releaseRootfs(rec.view().Linux, rec.Rootfs); err != nil { // rootfs_linux.go: mounts made in the host's namespace
		errs = append(errs, err)
	}
	if len(hookList(rec.view().Hooks, "poststop")) > 0 {
		st := r.stateOf(rec).OCI()
		st.Status = specs.StateStopped
		if err := runHooks(rec.view().Hooks, "poststop", st); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(lk.path); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Pause freezes every process of the container.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	return r.freezer(ctx, id, true)
}

// Resume thaws a paused container.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	return r.freezer(ctx, id, false)
}

func (r *Runtime) freezer(ctx context.Context, id string, freeze bool) error {
	lk, rec, err := r.open(id, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lk.unlock()
	st := r.status(rec)
	m, err := r.manager(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cgroupOpTimeout)
	defer cancel()
	if freeze {
		if st != Running {
			return fmt.Errorf("container %s is not running", id)
		}
		if err := m.Freeze(ctx); err != nil {
			// A freeze that did not complete would leave the cgroup
			// FREEZING, half stopped: undo it.
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cgroupOpTimeout)
			defer cancel()
			if terr := m.Thaw(tctx); terr != nil {
				return fmt.Errorf("%w (and thawing again: %v)", err, terr)
			}
			return err
		}
		return nil
	}
	if st != Paused {
		return fmt.Errorf("container %s is not paused", id)
	}
	return m.Thaw(ctx)
}

// Pids lists the host pids of the container's processes.
func (r *Runtime) Pids(ctx context.Context, id string) ([]int, error) {
	lk, rec, err := r.open(id, 0)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	m, err := r.manager(rec)
	if errors.Is(err, errNoCgroup) {
		// Without a cgroup only the init is known for sure.
		if rec.alive() {
			return []int{rec.Pid}, nil
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return m.Pids()
}

// Update applies new resources to a running container's cgroup and keeps
// them in its record.
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	lk, rec, err := r.open(id, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lk.unlock()
	if r.status(rec) == Stopped {
		return ErrNotRunning
	}
	m, err := r.manager(rec)
	if err != nil {
		return err
	}
	return m.Set(res)
}

// Stats reads the container's cgroup counters.
func (r *Runtime) Stats(ctx context.Context, id string) (*cgroups.Stats, error) {
	lk, rec, err := r.open(id, 0)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	if r.status(rec) == Stopped {
		return nil, ErrNotRunning
	}
	m, err := r.manager(rec)
	if err != nil {
		return nil, err
	}
	return m.Stats()
}

// OOM reports the container's OOM kills on the returned channel until ctx
// ends or the container goes.
func (r *Runtime) OOM(ctx context.Context, id string) (<-chan struct{}, error) {
	lk, rec, err := r.open(id, 0)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	m, err := r.manager(rec)
	if err != nil {
		return nil, err
	}
	return m.OOM(ctx)
}

// Run creates and starts a container and waits for its init to exit,
// returning its exit status (128+n for a signal n, as a shell would).
// The container is deleted when it exits. sigs, if not nil, delivers
// signals to forward to the init while it runs.
func (r *Runtime) Run(ctx context.Context, id string, o CreateOptions, sigs <-chan os.Signal) (int, error) {
	c, err := r.create(ctx, id, o)
	if err != nil {
		return -1, err
	}
	var lk *lockedDir
	if o.BeforeStart != nil {
		err = o.BeforeStart()
	}
	if err == nil {
		lk, err = r.relock(c.rec)
	}
	if err == nil {
		err = r.start(ctx, lk, c.rec)
		lk.unlock()
	}
	if err != nil {
		_ = r.Delete(context.WithoutCancel(ctx), id, true)
		return -1, err
	}
	return r.wait(ctx, c, sigs)
}

func (r *Runtime) wait(ctx context.Context, c *created, sigs <-chan os.Signal) (int, error) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if us, ok := s.(unix.Signal); ok {
					_ = signalInit(c.rec, us)
				}
			case <-done:
				return
			}
		}
	}()
	err := c.cmd.Wait()
	close(done)
	code := 0
	var ee *exitErrorT
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			code = 128 + int(ws.Signal())
		default:
			code = ws.ExitStatus()
		}
	} else if err != nil {
		return -1, err
	}
	lk, err := r.relock(c.rec)
	if errors.Is(err, ErrNotExist) {
		return code, nil // deleted already (delete --force)
	}
	if err != nil {
		return code, err
	}
	defer lk.unlock()
	if err := r.delete(context.WithoutCancel(ctx), lk, c.rec, true); err != nil {
		return code, err
	}
	return code, nil
}

type exitErrorT = exec.ExitError

// fileID names a file by device and inode.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// exeOf returns the file that pid runs, or nil when it is gone.
func exeOf(pid int) *fileID {
	var st unix.Stat_t
	if unix.Stat("/proc/"+strconv.Itoa(pid)+"/exe", &st) != nil {
		return nil
	}
	return &fileID{Dev: st.Dev, Ino: st.Ino}
}

// execed reports whether pid no longer runs hull's protected copy of the
// init's program, init (as exeOf read it when the process started): it
// has exec'd its program (or is gone).
func execed(pid int, init *fileID) bool {
	// Until it execs, the init runs its program (hull-init, or hull) from
	// a read-only mount of that very file (same inode) or from a sealed
	// memfd (see exe_linux.go).
	exe := "/proc/" + strconv.Itoa(pid) + "/exe"
	if l, err := os.Readlink(exe); err != nil {
		return true
	} else if strings.HasPrefix(l, "/memfd:hull") {
		return false
	}
	var a unix.Stat_t
	if unix.Stat(exe, &a) != nil {
		return true
	}
	if init == nil {
		// A record written by an older hull names no program: compare
		// with the one this hull would start, as that hull did.
		var b unix.Stat_t
		if unix.Stat(initProgram(), &b) != nil {
			return true
		}
		init = &fileID{Dev: b.Dev, Ino: b.Ino}
	}
	return a.Dev != init.Dev || a.Ino != init.Ino
}

// waitExecve waits until pid, started running init, has exec'd its
// program or is gone, or ctx ends.
func waitExecve(ctx context.Context, pid int, init *fileID) {
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		if execed(pid, init) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}
