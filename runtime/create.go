package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime/seccomp"
)

// CreateOptions are runc's create flags.
type CreateOptions struct {
	// Bundle is the directory holding config.json (default: the current
	// directory).
	Bundle string
	// Spec is the bundle's config.json when the caller has loaded it
	// already (LoadSpec of the same bundle): it is not read again. Create
	// resolves its root.path in place. Default nil: Create reads it.
	Spec *specs.Spec
	// PidFile, when set, receives the init's pid once it is created.
	PidFile string
	// ConsoleSocket is the AF_UNIX socket that receives the pty master
	// when process.terminal is set.
	ConsoleSocket string
	// NoPivot uses MS_MOVE+chroot instead of pivot_root (for ramfs roots).
	NoPivot bool
	// NoNewKeyring keeps the caller's session keyring.
	NoNewKeyring bool
	// PreserveFDs passes the caller's fds 3+ListenFDs.. (N of them) to
	// the container.
	PreserveFDs int
	// ListenFDs passes systemd socket-activation fds 3..3+N-1 (the
	// caller's $LISTEN_FDS) and sets LISTEN_FDS and LISTEN_PID for the
	// program.
	ListenFDs int
	// Stdin, Stdout and Stderr are the container's stdio when there is no
	// terminal; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// BeforeStart, when set, is called by Run (not Create) once the
	// container is created and before its program starts; an error ends
	// the run, and the container is deleted. Default: none.
	BeforeStart func() error
}

// Explain returns the plan that Create would run for a bundle, without
// running anything.
func (r *Runtime) Explain(id string, o CreateOptions) (*Plan, error) {
	s, p, err := r.load(id, o)
	if err != nil {
		return nil, err
	}
	// The cgroup writes, as the cgroups package would make them here.
	m, err := r.manager(&record{ID: id, Spec: s, Systemd: r.systemd})
	if err != nil {
		return nil, err
	}
	if res := withDeviceRules(s); res != nil {
		cp, err := m.Plan(res)
		if err != nil {
			return nil, err
		}
		p.CgroupPlan = cp.String()
	}
	return p, nil
}

func (r *Runtime) load(id string, o CreateOptions) (*specs.Spec, *Plan, error) {
	if err := checkID(id); err != nil {
		return nil, nil, err
	}
	bundle := o.Bundle
	if bundle == "" {
		bundle = "."
	}
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return nil, nil, err
	}
	s := o.Spec
	if s == nil {
		if s, err = LoadSpec(bundle); err != nil {
			return nil, nil, err
		}
	}
	if s.Root != nil && s.Root.Path != "" {
		root := s.Root.Path
		if !filepath.IsAbs(root) {
			root = filepath.Join(bundle, root)
		}
		// The host side of the rootfs is resolved once, here: the
		// init binds and pivots into exactly this directory.
		if real, err := filepath.EvalSymlinks(root); err == nil {
			s.Root.Path = real
		} else if o.Bundle != "" || !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("root.path: %w", err)
		}
	}
	p, err := NewPlan(s, PlanOptions{ID: id, Bundle: bundle, NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring, PreserveFDs: o.PreserveFDs, ListenFDs: o.ListenFDs})
	if err != nil {
		return nil, nil, err
	}
	if !s.Process.Terminal && o.ConsoleSocket != "" {
		return nil, nil, errors.New("--console-socket is given but process.terminal is false")
	}
	return s, p, nil
}

// Create creates a container from a bundle: when it returns, the
// container's init has set everything up and waits for Start. A failed
// Create leaves nothing behind: no state directory, cgroup, mount or
// process.
func (r *Runtime) Create(ctx context.Context, id string, o CreateOptions) error {
	_, err := r.create(ctx, id, o)
	return err
}

// created is what create hands to Run: the init is hull's child.
type created struct {
	cmd *exec.Cmd
	rec *record
}

func (r *Runtime) create(ctx context.Context, id string, o CreateOptions) (c *created, err error) {
	began := time.Now()
	spec, plan, err := r.load(id, o)
	if err != nil {
		return nil, err
	}
	// Only running needs the console: Explain prints the same plan without.
	if spec.Process.Terminal && o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal is set: --console-socket is required")
	}
	// A rootless map with a subordinate range: the helpers must accept
	// it, checked before anything exists (rootless_linux.go).
	if err := checkIDHelpers(plan); err != nil {
		return nil, err
	}
	// With --debug, each phase is logged with the time it took.
	phase := func(what string) {
		r.log.Debug(what, "container", id, "elapsed", time.Since(began))
	}
	phase("spec loaded and planned")
	var undo cleanups
	defer func() {
		if err != nil {
			if cerr := undo.run(); cerr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
			}
		}
	}()

	dir := r.dir(id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %s %w", id, ErrExist)
		}
		return nil, err
	}
	undo.push(func() error { return os.RemoveAll(dir) })
	lk, err := lockDir(dir, unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()

	rec := &record{
		ID: id, Bundle: plan.Bundle, Rootfs: plan.Rootfs, Phase: phaseCreating,
		Created: time.Now().UTC(), Annotations: spec.Annotations, Spec: spec, Systemd: r.systemd,
	}

	fifoPath := filepath.Join(dir, fifoFile)
	// 0622 (after the umask, hence the chmod): the init opens it for
	// writing after it has become the container's user.
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, &os.PathError{Op: "mkfifo", Path: fifoPath, Err: err}
	}
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, err
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer fifo.Close()

	var console *os.File
	if o.ConsoleSocket != "" {
		if console, err = dialConsoleSocket(o.ConsoleSocket); err != nil {
			return nil, err
		}
		defer console.Close()
	}

	parentSock, childSock, err := socketpair()
	if err != nil {
		return nil, err
	}
	defer parentSock.Close()

	// The init's fds: the preserved ones keep their numbers (3...), ours
	// follow; CloseFDs marks ours close-on-exec before the user's
	// program runs.
	var extra []*os.File
	for i := 0; i < o.ListenFDs+o.PreserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	syncFD := 3 + len(extra)
	extra = append(extra, childSock)
	fifoFD := 3 + len(extra)
	extra = append(extra, fifo)
	consoleFD := 0
	if console != nil {
		consoleFD = 3 + len(extra)
		extra = append(extra, console)
	}
	// A user namespace per idmapped mount, passed to the init by fd.
	for _, st := range plan.Steps {
		if m, ok := st.(*Mount); ok && m.IDMap != nil {
			ns, err := usernsFor(m.IDMap)
			if err != nil {
				childSock.Close()
				return nil, fmt.Errorf("mount %s: %w", m.Dest, err)
			}
			defer ns.Close()
			m.IDMap.UsernsFD = 3 + len(extra)
			extra = append(extra, ns)
		}
	}

	cmd, err := r.initCommand(plan, syncFD, extra, o)
	if err != nil {
		childSock.Close()
		return nil, err
	}
	err = startInit(cmd, plan)
	childSock.Close()
	if err != nil {
		return nil, fmt.Errorf("start the container's init: %w", err)
	}
	pid := cmd.Process.Pid
	phase("init started")
	undo.push(func() error { return releaseRootfs(rec.view().Linux, plan.Rootfs) }) // after the kill below: see rootfs_linux.go
	undo.push(func() error {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		return nil
	})
	if needsIDHelpers(plan) {
		if err := writeIDMaps(ctx, pid, plan); err != nil {
			return nil, err
		}
	}

	// The init was started before state.json and the cgroup were made
	// so that its start-up (a new process, a Go runtime) overlaps this
	// work. It runs no step until it has its plan, sent once it is in the
	// cgroup; if hull dies before that, the init reads the socket's end
	// and exits, and delete removes a directory without state.json.
	// state.json comes before the cgroup: delete --force after a killed
	// create finds the cgroup from its spec.
	if err := lk.write(rec); err != nil {
		return nil, err
	}
	mgr, err := r.createCgroup(rec)
	if err != nil {
		return nil, err
	}
	if mgr != nil {
		// Undone before the init's own undo: it kills what is in the
		// cgroup (the init, once moved there), then removes it.
		undo.push(func() error { return r.destroyCgroup(context.WithoutCancel(ctx), rec) })
		if spec.Linux.Resources != nil {
			if err := mgr.Set(withDeviceRules(spec)); err != nil {
				return nil, err
			}
		}
		rec.CgroupPaths = mgr.Paths()
		h, _ := cgroupHost()
		plan.CgroupMounts, plan.CgroupUnified = cgroupMounts(h, rec.CgroupPaths)
	}
	phase("cgroup created")
	// The pid is recorded with the cgroup's created parents: delete
	// --force after a killed create finds both.
	rec.Pid = pid
	rec.PidStart, _ = pidStart(pid)
	rec.InitExe = exeOf(pid) // it waits for its plan: not exec'd yet
	if err := lk.write(rec); err != nil {
		return nil, err
	}
	if mgr != nil {
		if err := mgr.Apply(pid); err != nil {
			return nil, err
		}
	}

	st := &specs.State{Version: specs.Version, ID: id, Status: specs.StateCreating, Pid: pid, Bundle: plan.Bundle, Annotations: spec.Annotations}
	if err := r.driveInit(ctx, parentSock, cmd, plan, st, fifoFD, consoleFD); err != nil {
		return nil, err
	}

	phase("init ready")
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return nil, err
		}
	}
	rec.Phase = phaseCreated
	if err := lk.write(rec); err != nil {
		return nil, err
	}
	undo.release()
	return &created{cmd: cmd, rec: rec}, nil
}

// initCommand builds the exec.Cmd of the init: hull's sealed copy, run as
// "hull init", with the namespaces to create as clone flags and a clean
// environment (the program's own comes from the plan).
func (r *Runtime) initCommand(plan *Plan, syncFD int, extra []*os.File, o CreateOptions) (*exec.Cmd, error) {
	exe, err := sealedExe()
	if err != nil {
		return nil, err
	}
	env := []string{
		initEnv + "=" + strconv.Itoa(syncFD),
		// hull-init links glibc for runtime/nsenter's constructor. glibc
		// registers an rseq area for each thread it starts when the main
		// thread's registration worked, and aborts ("Fatal glibc error:
		// rseq registration failed") when a thread started after a
		// seccomp filter that denies rseq cannot. The init needs no rseq:
		// glibc is told not to ask (see init in init_linux.go for why the
		// init should start no thread at all then). The container's
		// program gets its own environment from the plan, without this.
		"GLIBC_TUNABLES=glibc.pthread.rseq=0",
		// One P and no collector (see init in init_linux.go), from the
		// Go runtime's first instruction: set later, each costs the init
		// a stop of the world; Init unsets both so that its hooks do not
		// inherit them.
		"GOMAXPROCS=1",
		"GOGC=off",
	}
	if plan.NSEnter {
		if err := needConstructor("entering the container's user, mount or time namespace"); err != nil {
			return nil, err
		}
	}
	if e := nsenterEnv(plan.Join); e != "" {
		env = append(env, e)
	}
	if plan.TimeNS != nil {
		env = append(env, plan.TimeNS.env()) // made by the nsenter constructor: see TimeNamespace
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/" + strconv.Itoa(int(exe.Fd())),
		Args:       []string{"hull", "init"},
		Env:        env,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			// No Pdeathsig: Go's child checks getppid() against the
			// parent's pid and kills itself when they differ, which they
			// always do across a pid namespace. An init whose parent
			// dies notices anyway: its next read or write of the sync
			// socket fails, and it exits.
			Cloneflags: uintptr(plan.Clone),
		},
	}
	// A nil *os.File in an io.Reader would read as a closed fd 0.
	if o.Stdin != nil {
		cmd.Stdin = o.Stdin
	}
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	if o.Stderr != nil {
		cmd.Stderr = o.Stderr
	}
	if plan.Clone&unix.CLONE_NEWUSER != 0 {
		for _, m := range plan.UIDMappings {
			cmd.SysProcAttr.UidMappings = append(cmd.SysProcAttr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range plan.GIDMappings {
			cmd.SysProcAttr.GidMappings = append(cmd.SysProcAttr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		// An unprivileged caller may only write gid_map after denying
		// setgroups(2).
		cmd.SysProcAttr.GidMappingsEnableSetgroups = os.Geteuid() == 0
		// The init must be root of its user namespace before execve, or
		// the exec recomputes its capabilities from an unmapped uid and
		// it keeps none.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: os.Geteuid() != 0}
		if needsIDHelpers(plan) {
			useIDHelpers(cmd.SysProcAttr) // newuidmap writes the maps later
		}
	}
	return cmd, nil
}

// startInit starts the init. Namespaces joined by path (other than those
// the nsenter constructor enters in the child) are entered by a dedicated
// OS thread first: setns changes only the calling thread, and the fork
// inherits that thread's namespaces. The thread then returns to its own
// namespaces; if it cannot, it is never given back to the Go scheduler:
// its goroutine exits locked, which ends the thread.
func startInit(cmd *exec.Cmd, plan *Plan) error {
	var join []JoinNamespace
	for _, j := range plan.Join {
		if !byConstructor(j.Type) {
			join = append(join, j)
		}
	}
	if len(join) == 0 {
		return cmd.Start()
	}
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// Keep the thread's own namespaces to return to: a thread put
		// back exactly as it was may serve other goroutines again (and
		// when it is the main thread, which Go never ends, the process's
		// /proc/self/ns stays the caller's).
		var back []JoinNamespace
		for _, j := range join {
			back = append(back, JoinNamespace{Type: j.Type, Path: "/proc/thread-self/ns/" + nsProcName[j.Type]})
		}
		saved, err := openAll(back)
		if err != nil {
			done <- err
			return
		}
		defer closeAll(saved)
		for _, j := range join {
			if err := setnsPath(j.Path, int(nsFlag[j.Type])); err != nil {
				done <- err
				restoreThread(saved, back)
				return
			}
		}
		done <- cmd.Start()
		restoreThread(saved, back)
	}()
	return <-done
}

func openAll(ns []JoinNamespace) ([]int, error) {
	var fds []int
	for _, n := range ns {
		fd, err := unix.Open(n.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(fds)
			return nil, &os.PathError{Op: "open", Path: n.Path, Err: err}
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// restoreThread puts the calling thread back into its saved namespaces
// and unlocks it; if any setns fails the thread stays locked and dies
// with its goroutine.
func restoreThread(fds []int, ns []JoinNamespace) {
	for i, fd := range fds {
		if unix.Setns(fd, int(nsFlag[ns[i].Type])) != nil {
			return
		}
	}
	goruntime.UnlockOSThread()
}

func setnsPath(path string, nstype int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open namespace", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, nstype); err != nil {
		return &os.PathError{Op: "setns", Path: path, Err: err}
	}
	return nil
}

// driveInit sends the plan and serves the init's requests until it is
// ready or fails.
func (r *Runtime) driveInit(ctx context.Context, sock *os.File, cmd *exec.Cmd, plan *Plan, st *specs.State, fifoFD, consoleFD int) error {
	if err := writeSync(sock, syncMsg{Type: syncPlan, Plan: plan, State: st, FifoFD: fifoFD, ConsoleFD: consoleFD}); err != nil {
		// The init may have died before reading (the nsenter
		// constructor failing, say): its last words are in the socket.
		if m, rerr := readSync(sock); rerr == nil && m.Type == syncError {
			return errors.New(m.Error)
		}
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	for {
		m, fd, err := readSyncFD(sock)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch m.Type {
		case syncSeccomp:
			err := sendToAgent(ctx, plan, st, fd)
			if err != nil {
				_ = writeSync(sock, syncMsg{Type: syncError, Error: err.Error()})
				return err
			}
			if err := writeSync(sock, syncMsg{Type: syncSeccompDone}); err != nil {
				return err
			}
		case syncHooks:
			err := runHooks(plan.Hooks, "prestart", st)
			if err == nil {
				err = runHooks(plan.Hooks, "createRuntime", st)
			}
			if err != nil {
				_ = writeSync(sock, syncMsg{Type: syncError, Error: err.Error()})
				return err
			}
			if err := writeSync(sock, syncMsg{Type: syncHooksDone}); err != nil {
				return err
			}
		case syncReady:
			return nil
		case syncError:
			return errors.New(m.Error)
		default:
			return fmt.Errorf("unexpected message %q from the init", m.Type)
		}
	}
}

func socketpair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.SyscallError{Syscall: "socketpair", Err: err}
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// writePidFile writes the pid atomically, as runc does: readers never
// see an empty file.
func writePidFile(path string, pid int) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// sendToAgent hands a seccomp listener fd to linux.seccomp.listenerPath.
func sendToAgent(ctx context.Context, plan *Plan, st *specs.State, fd int) error {
	if fd < 0 {
		return errors.New("the init sent no seccomp listener fd")
	}
	defer unix.Close(fd)
	var sc *specs.LinuxSeccomp
	for _, s := range plan.Steps {
		if s, ok := s.(*Seccomp); ok {
			sc = s.Spec
		}
	}
	if sc == nil || sc.ListenerPath == "" {
		return errors.New("linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath")
	}
	return seccomp.SendListener(ctx, sc.ListenerPath, fd, specs.ContainerProcessState{
		Pid: st.Pid, Metadata: sc.ListenerMetadata, State: *st,
	})
}
