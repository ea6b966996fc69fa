package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime/nsenter"
)

// ExecOptions are runc's exec flags.
type ExecOptions struct {
	// Process is the process to run (process.json, or the container's own
	// process with the command line's changes).
	Process *specs.Process
	// PidFile, when set, receives the new process's pid.
	PidFile string
	// ConsoleSocket receives the pty master when Process.Terminal is set.
	ConsoleSocket string
	// PreserveFDs passes the caller's fds 3..3+N-1 to the process.
	PreserveFDs int
	// Stdin, Stdout and Stderr are the process's stdio without a
	// terminal; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
}

// A Process is a program started in a running container by Exec.
type Process struct {
	Pid int
	cmd *exec.Cmd
	rec *record
}

// Wait waits for the process and returns its exit status (128+n when
// killed by signal n). sigs, when not nil, delivers signals to forward to
// it meanwhile.
func (p *Process) Wait(sigs <-chan os.Signal) (int, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if us, ok := s.(unix.Signal); ok {
					_ = unix.Kill(p.Pid, us)
				}
			case <-done:
				return
			}
		}
	}()
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// ExecPlan returns the plan of a process run in an existing container:
// the namespaces it enters and the steps its init runs.
func ExecPlan(s *specs.Spec, initPid int, proc *specs.Process, preserveFDs int) (*Plan, error) {
	if err := ValidateProcess(proc); err != nil {
		return nil, err
	}
	p := &Plan{ID: "exec"}
	userNS, mountNS := false, false
	for _, n := range s.Linux.Namespaces {
		path := fmt.Sprintf("/proc/%d/ns/%s", initPid, nsProcName[n.Type])
		p.Join = append(p.Join, JoinNamespace{Type: n.Type, Path: path})
		userNS = userNS || n.Type == specs.UserNamespace
		mountNS = mountNS || n.Type == specs.MountNamespace
	}
	add := func(st ...Step) { p.Steps = append(p.Steps, st...) }
	// A container in the host's mount namespace is a chroot: entering
	// no mount namespace leaves the process at the host's root.
	if !mountNS {
		add(&Chroot{Dir: fmt.Sprintf("/proc/%d/root", initPid)})
	}
	if proc.Terminal {
		add(&Setsid{}, &Console{})
		if proc.ConsoleSize != nil {
			p.Steps[len(p.Steps)-1] = &Console{Width: proc.ConsoleSize.Width, Height: proc.ConsoleSize.Height}
		}
	}
	for _, r := range proc.Rlimits {
		add(&Setrlimit{Name: r.Type, Resource: rlimitNumber[r.Type], Soft: r.Soft, Hard: r.Hard})
	}
	if proc.OOMScoreAdj != nil {
		add(&OOMScoreAdj{Value: *proc.OOMScoreAdj})
	}
	add(&CloseFDs{First: 3 + preserveFDs})
	var seccomp *Seccomp
	if s.Linux.Seccomp != nil {
		seccomp = &Seccomp{Spec: s.Linux.Seccomp}
		if err := compileSeccomp(seccomp); err != nil {
			return nil, fmt.Errorf("linux.seccomp: %w", err)
		}
		if !proc.NoNewPrivileges {
			add(seccomp)
		}
	}
	processSteps(add, proc, userNS)
	if seccomp != nil && proc.NoNewPrivileges && seccomp.Notify {
		add(seccomp)
		seccomp = nil
	}
	add(&SignalReady{})
	if seccomp != nil && proc.NoNewPrivileges {
		add(seccomp)
	}
	add(&Exec{Args: proc.Args, Env: proc.Env})
	return p, nil
}

// Exec starts a process in a running container: in every one of its
// namespaces (user and mount included, through runtime/nsenter), its
// cgroup, with the process's credentials, capabilities and seccomp
// profile. It returns once the process runs its program.
func (r *Runtime) Exec(ctx context.Context, id string, o ExecOptions) (_ *Process, err error) {
	lk, rec, err := r.open(id, 0)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	if st := r.status(rec); st != Running && st != Created {
		return nil, fmt.Errorf("cannot exec in a container that is %s", st)
	}
	if o.Process.Terminal && o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal is set: --console-socket is required")
	}
	spec, err := rec.spec()
	if err != nil {
		return nil, err
	}
	plan, err := ExecPlan(spec, rec.Pid, o.Process, o.PreserveFDs)
	if err != nil {
		return nil, err
	}
	plan.NSEnter = nsenterEnv(plan.Join) != ""

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
	var extra []*os.File
	for i := 0; i < o.PreserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	syncFD := 3 + len(extra)
	extra = append(extra, childSock)
	consoleFD := 0
	if console != nil {
		consoleFD = 3 + len(extra)
		extra = append(extra, console)
	}
	// The process enters the container's namespaces; none are created.
	clone := plan.Clone
	plan.Clone = 0
	cmd, err := r.initCommand(plan, syncFD, extra, CreateOptions{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr})
	plan.Clone = clone
	if err != nil {
		childSock.Close()
		return nil, err
	}
	// Unprivileged, the constructor enters every namespace; the parent
	// enters none.
	started := plan
	if constructorEntersAll(plan.Join) {
		started = &Plan{}
	}
	err = startInit(cmd, started)
	childSock.Close()
	if err != nil {
		return nil, fmt.Errorf("start the exec process: %w", err)
	}
	pid := cmd.Process.Pid
	defer func() {
		if err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	}()
	// Entered by the constructor, the pid namespace holds the child
	// of the process we started, which relays (runtime/nsenter).
	if constructorEntersAll(plan.Join) {
		if pid, err = readRelayPid(parentSock); err != nil {
			return nil, err
		}
	}
	if m, err := r.manager(rec); err == nil {
		if err := m.Apply(pid); err != nil {
			return nil, err
		}
	}
	program := exeOf(pid) // it waits for its plan: not exec'd yet
	st := r.stateOf(rec).OCI()
	if err := r.driveInit(ctx, parentSock, cmd, plan, st, 0, consoleFD); err != nil {
		if errors.Is(err, errInitGone) || errors.Is(err, unix.EPIPE) {
			if werr := cmd.Wait(); werr != nil {
				err = fmt.Errorf("%w (%v)", err, werr)
			}
		}
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return nil, err
		}
	}
	waitExecve(ctx, pid, program)
	return &Process{Pid: pid, cmd: cmd, rec: rec}, nil
}

// checkNSEnter fails an init whose plan needed the nsenter constructor
// when the constructor did not run (an init program built without cgo;
// needConstructor stops hull from starting one it knows).
func checkNSEnter(p *Plan) error {
	if p.NSEnter && !nsenter.Entered() {
		return errors.New("namespaces to enter by path, but the nsenter constructor did not run: the init's program was built without cgo")
	}
	return nil
}
