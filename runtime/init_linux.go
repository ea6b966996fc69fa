package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/runtime/capability"
	"golang.org/x/sys/unix"
)

// initEnv carries the number of the init's end of the sync socket. Its
// presence is what makes a hull process the container's init.
const initEnv = "_HULL_INIT"

// IsInit reports whether this process was started by hull as a
// container's init (or exec'd process). A program embedding this package
// calls Init first thing in main when it does:
//
//	func main() {
//		if runtime.IsInit() {
//			runtime.Init() // never returns
//		}
//		...
//	}
//
// The hull command does so through its hidden "init" verb.
func IsInit() bool { return os.Getenv(initEnv) != "" }

// In the container's init only, the main goroutine is locked to the main
// thread while packages initialise, before anything can move it. The
// init's per-thread steps (unshare(CLONE_NEWCGROUP), capabilities, seccomp)
// must run on the thread group leader: /proc/<pid>/ns/* and what tools
// read between create and start describe that thread, and a step run on
// another thread was seen to leave the leader in the host's cgroup
// namespace.
//
// The init is also made to need no new thread once a seccomp filter is
// loaded: the filter binds every thread the Go runtime creates after it,
// and a profile that denies clone3 (the runtime-tools default denies it
// with EPERM: it names later calls, so clone3 is not above the profile)
// makes glibc's pthread_create fail and the Go runtime abort
// ("runtime/cgo: pthread_create failed: Operation not permitted"). That
// was seen in CI when a garbage collection started while the init
// dropped its bounding set. So the init runs on one P with the collector
// off (it lives for milliseconds and allocates little), and spareThread
// makes sure a parked thread exists for the scheduler to hand the P to
// while the init blocks in a system call. runc's init also runs on one P.
// (The parent sets GOMAXPROCS=1 and GOGC=off in the init's environment,
// which the Go runtime reads before any code runs: the call below finds
// it done. GOGC has no such call here on purpose: runtime/debug, like
// net, is imported by few packages and sorts late, and importing either
// would hold this init back; see below.)
//
// The init then runs from here, while packages initialise: the packages
// that import runtime (in hull: the command line, the VM monitor, the
// image store) and main never run in the container's init, which spares
// it their start-up and keeps the code that runs there to what it needs.
// Go initialises packages in dependency order, taking among those ready
// the first by import path, so this runs once every package runtime
// imports has, and after any package that sorts before one of those and
// was ready first. Every package imported here holds the init back by
// all that sorts before it: with net (or runtime/debug), regexp, the TLS,
// x509 and zstd tables of the image code and a dozen more initialised
// first (105 package inits instead of 86, 460 page faults instead of
// 330, 4.5 ms more CPU measured up to the init's first read; in a whole
// "hull run" most of it comes back later, as the first use of
// encoding/json and fresh heap pages, and the init is ready at most 1 ms
// sooner; what stays saved is CPU and page faults). So this package and those it imports use neither (unixsock
// dials the console socket and the seccomp agent; TestInitImports keeps
// it so).
// (Package-level variables are all set before any init function runs;
// this must stay the package's only init function, or one in a file
// named after this one would not have run yet.)
// Nothing changes for any other process that imports runtime.
func init() {
	if IsInit() {
		goruntime.LockOSThread()
		goruntime.GOMAXPROCS(1)
		Init()
	}
}

// spareThread leaves the scheduler one idle thread besides the init's
// locked one. The init blocks on a channel that only a new goroutine
// closes: the locked thread must give up the P, and the scheduler starts
// (or finds) another thread to run the goroutine; that thread parks
// when it is done, and with GOMAXPROCS 1 it is all the scheduler ever
// needs while the init sits in a system call.
func spareThread() {
	done := make(chan struct{})
	go close(done)
	<-done
}

// initContext is what the steps share while the init runs them.
type initContext struct {
	sync      *os.File
	plan      *Plan
	state     *specs.State
	root      *os.File // the rootfs, then "/" once pivoted
	fifoFD    int
	consoleFD int
	execPath  string
}

// Init runs the container's init: it reads its plan from the parent and
// runs each step, ending in execve of the container's program. It never
// returns; a failed step is reported to the parent and exits 1.
func Init() {
	// Capabilities, no_new_privs and seccomp are per-thread; the thread
	// that sets them must be the one that calls execve. Never unlocked.
	goruntime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv(initEnv))
	os.Unsetenv(initEnv)
	// Read by the Go runtime at start-up (see initCommand); a hook
	// that inherits the init's environment must not run with them.
	os.Unsetenv("GOMAXPROCS")
	os.Unsetenv("GOGC")
	if err != nil {
		fmt.Fprintf(os.Stderr, "hull init: bad %s: %v\n", initEnv, err)
		os.Exit(1)
	}
	sync := os.NewFile(uintptr(fd), "sync")
	unix.CloseOnExec(fd)
	spareThread()
	if err := runInit(sync); err != nil {
		if werr := writeSync(sync, syncMsg{Type: syncError, Error: err.Error()}); werr != nil {
			// The parent is gone (start already returned): stderr is
			// all that is left.
			fmt.Fprintf(os.Stderr, "hull init: %v\n", err)
		}
		os.Exit(1)
	}
	os.Exit(0) // not reached: the last step execs
}

func runInit(sync *os.File) error {
	m, err := readSync(sync)
	if err != nil {
		return err
	}
	if m.Type != syncPlan || m.Plan == nil {
		return fmt.Errorf("expected the plan, got %q", m.Type)
	}
	if err := checkNSEnter(m.Plan); err != nil {
		return err
	}
	if err := becomeRoot(m.Plan); err != nil { // rootless_linux.go
		return err
	}
	c := &initContext{sync: sync, plan: m.Plan, state: m.State, fifoFD: m.FifoFD, consoleFD: m.ConsoleFD}
	for i, s := range c.plan.Steps {
		if err := s.run(c); err != nil {
			return fmt.Errorf("init step %d, %s: %w", i+1, stepOp(s), err)
		}
	}
	return errors.New("the plan has no exec step")
}

func (Setsid) run(c *initContext) error {
	if _, err := unix.Setsid(); err != nil && err != unix.EPERM {
		return &os.SyscallError{Syscall: "setsid", Err: err}
	}
	return nil
}

func (UnshareCgroup) run(c *initContext) error {
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return &os.SyscallError{Syscall: "unshare(CLONE_NEWCGROUP)", Err: err}
	}
	return nil
}

func (SyncHooks) run(c *initContext) error {
	if err := writeSync(c.sync, syncMsg{Type: syncHooks}); err != nil {
		return err
	}
	m, err := readSync(c.sync)
	if err != nil {
		return err
	}
	if m.Type != syncHooksDone {
		return fmt.Errorf("parent: %s", m.Error)
	}
	return nil
}

func (h *RunHook) run(c *initContext) error {
	st := *c.state
	return runHook(h.Kind, h.Hook, &st)
}

func (h *Sethostname) run(c *initContext) error {
	if err := unix.Sethostname([]byte(h.Name)); err != nil {
		return &os.SyscallError{Syscall: "sethostname", Err: err}
	}
	return nil
}

func (h *Setdomainname) run(c *initContext) error {
	if err := unix.Setdomainname([]byte(h.Name)); err != nil {
		return &os.SyscallError{Syscall: "setdomainname", Err: err}
	}
	return nil
}

func (s *Sysctl) run(c *initContext) error {
	rel := path.Join("proc/sys", strings.ReplaceAll(s.Key, ".", "/"))
	f, err := openInRoot(c.root, rel, unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(s.Value); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", s.Key, s.Value, err)
	}
	return nil
}

func (r *Setrlimit) run(c *initContext) error {
	lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
	if err := unix.Prlimit(0, r.Resource, &lim, nil); err != nil {
		return fmt.Errorf("setrlimit %s (soft %d, hard %d): %w", r.Name, r.Soft, r.Hard, err)
	}
	return nil
}

func (o *OOMScoreAdj) run(c *initContext) error {
	return os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(o.Value)), 0)
}

func (k *JoinKeyring) run(c *initContext) error {
	id, err := unix.KeyctlJoinSessionKeyring(k.Name)
	if err == unix.ENOSYS {
		return nil // keyrings compiled out: nothing to isolate
	}
	if err != nil {
		return &os.SyscallError{Syscall: "keyctl(KEYCTL_JOIN_SESSION_KEYRING)", Err: err}
	}
	if err := unix.KeyctlSetperm(id, 0x3f0b0000); err != nil {
		return &os.SyscallError{Syscall: "keyctl(KEYCTL_SETPERM)", Err: err}
	}
	return nil
}

func (p *Personality) run(c *initContext) error {
	per := perLinux
	if p.Domain == "LINUX32" {
		per = perLinux32
	}
	if _, err := personality(per); err != nil {
		return &os.SyscallError{Syscall: "personality", Err: err}
	}
	return nil
}

func (p *IOPriority) run(c *initContext) error {
	v := ioprioClass[p.Class]<<ioprioClassShift | p.Priority
	if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(v)); e != 0 {
		return &os.SyscallError{Syscall: "ioprio_set", Err: e}
	}
	return nil
}

func (s *Scheduler) run(c *initContext) error {
	attr := unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   schedPolicy[s.Sched.Policy],
		Nice:     s.Sched.Nice,
		Priority: uint32(s.Sched.Priority),
		Runtime:  s.Sched.Runtime,
		Deadline: s.Sched.Deadline,
		Period:   s.Sched.Period,
	}
	for _, f := range s.Sched.Flags {
		attr.Flags |= schedFlag[f]
	}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return &os.SyscallError{Syscall: "sched_setattr", Err: err}
	}
	return nil
}

func (u *SetUser) run(c *initContext) error {
	if err := capability.KeepCaps(true); err != nil {
		return err
	}
	groups := make([]int, len(u.Groups))
	for i, g := range u.Groups {
		groups[i] = int(g)
	}
	// The credentials change for this thread only, like the capability
	// sets after them: it is the thread that execs the program, and
	// execve ends every other thread (which runs only the Go runtime).
	// syscall.Setresuid and friends would change every thread of the
	// process, through glibc's signal to each and a wait for them all:
	// milliseconds, on a busy machine tens of them.
	if err := unix.Setgroups(groups); err != nil && !(u.SetgroupsDenied && len(groups) == 0 && err == unix.EPERM) {
		return fmt.Errorf("setgroups %v: %w", u.Groups, err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", u.UID, e)
	}
	if err := capability.KeepCaps(false); err != nil {
		return err
	}
	return nil
}

func (u *Umask) run(c *initContext) error {
	unix.Umask(int(u.Mask))
	return nil
}

func (d *Chdir) run(c *initContext) error {
	if err := unix.Chdir(d.Dir); err != nil {
		return &os.PathError{Op: "chdir", Path: d.Dir, Err: err}
	}
	return nil
}

func (NoNewPrivs) run(c *initContext) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return &os.SyscallError{Syscall: "prctl(PR_SET_NO_NEW_PRIVS)", Err: err}
	}
	return nil
}

func (f *CloseFDs) run(c *initContext) error {
	err := unix.CloseRange(uint(f.First), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Before Linux 5.11 (or under a filter that denies close_range):
	// mark each open descriptor by hand.
	ents, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return &os.SyscallError{Syscall: "close_range", Err: err}
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < f.First {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}

func (SignalReady) run(c *initContext) error {
	// The program must exist now, so that a typo fails "create" rather
	// than a later "start" that has already returned.
	for _, s := range c.plan.Steps {
		if e, ok := s.(*Exec); ok {
			p, err := lookPath(e.Args[0], e.Env)
			if err != nil {
				return err
			}
			c.execPath = p
		}
	}
	return writeSync(c.sync, syncMsg{Type: syncReady})
}

func (WaitStart) run(c *initContext) error {
	c.sync.Close()
	fifo := "/proc/self/fd/" + strconv.Itoa(c.fifoFD)
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(fifo, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return &os.PathError{Op: "open exec fifo", Path: fifo, Err: err}
	}
	// The byte tells "hull start" that we are on our way; if start died
	// after opening the fifo (EPIPE), we go on all the same. The fd
	// itself stays open, close-on-exec: "hull start" reads the fifo's
	// end when execve has replaced the init with the program (or when
	// the init has died).
	if _, err := unix.Write(fd, []byte("0")); err != nil && err != unix.EPIPE {
		unix.Close(fd)
		return &os.PathError{Op: "write exec fifo", Path: fifo, Err: err}
	}
	unix.Close(c.fifoFD)
	return nil
}

func (e *Exec) run(c *initContext) error {
	p := c.execPath
	if p == "" {
		var err error
		if p, err = lookPath(e.Args[0], e.Env); err != nil {
			return err
		}
	}
	err := unix.Exec(p, e.Args, e.Env)
	return &os.PathError{Op: "execve", Path: p, Err: err}
}

// ErrNotFound is the error for a program that is not in the container.
var ErrNotFound = errors.New("executable file not found in $PATH")

// lookPath finds a program as execvp(3) would, but in the container's
// PATH (from its environment), not hull's.
func lookPath(file string, env []string) (string, error) {
	check := func(p string) error {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return unix.EISDIR
		}
		return unix.Access(p, unix.X_OK)
	}
	if strings.Contains(file, "/") {
		if err := check(file); err != nil {
			return "", fmt.Errorf("exec: %q: %w", file, err)
		}
		return file, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if check(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: %w", file, ErrNotFound)
}
