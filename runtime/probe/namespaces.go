package probe

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// namespaceKinds are the namespaces a container may ask for, in the order
// of /proc/PID/ns.
var namespaceKinds = []struct {
	typ  string
	flag uintptr
	name string
}{
	{"cgroup", unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{"ipc", unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{"mnt", unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{"net", unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{"pid", unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{"time", unix.CLONE_NEWTIME, "CLONE_NEWTIME"},
	{"user", unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{"uts", unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
}

// missingPath is an executable path that cannot exist: execve(2) of it
// fails with ENOENT, the proof that everything before it, clone included,
// succeeded.
const missingPath = "/.hull-probe-no-such-file"

func probeNamespaces() []Namespace {
	rootless := os.Geteuid() != 0
	// Can a child stop itself at exec with PTRACE_TRACEME? Yama's
	// ptrace_scope 3 or a seccomp policy may forbid it; then each probe
	// falls back to proving clone by an exec that fails with ENOENT.
	traced := true
	if c, err := startStopped(0); err != nil {
		traced = false
	} else {
		c.kill()
	}
	var out []Namespace
	for _, k := range namespaceKinds {
		flags, call := k.flag, "clone("+k.name+")"
		if rootless && k.flag != unix.CLONE_NEWUSER {
			// Without CAP_SYS_ADMIN, the namespace must be owned by a
			// new user namespace, as a rootless container's are.
			flags |= unix.CLONE_NEWUSER
			call = "clone(CLONE_NEWUSER|" + k.name + ")"
		}
		ns := Namespace{Type: k.typ, Flag: k.name, Outcome: Outcome{Call: call}}
		if traced {
			ns.Outcome = tryStopped(call, k.typ, flags)
		} else {
			ns.Outcome = tryExecFails(call, flags, true)
		}
		out = append(out, ns)
	}
	return out
}

// tryStopped clones a child with flags and checks that its
// /proc/PID/ns/typ differs from ours.
func tryStopped(call, typ string, flags uintptr) Outcome {
	o := Outcome{Call: call}
	c, err := startStopped(flags)
	if err != nil {
		o.fail(err)
		return o
	}
	defer c.kill()
	mine, err1 := os.Readlink("/proc/self/ns/" + typ)
	theirs, err2 := os.Readlink("/proc/" + strconv.Itoa(c.pid) + "/ns/" + typ)
	if err := errors.Join(err1, err2); err != nil {
		o.fail(err)
		return o
	}
	if mine == theirs {
		o.fail(fmt.Errorf("the child is still in %s: the kernel ignored %s", mine, call))
		return o
	}
	o.OK = true
	o.Note = theirs + ", caller in " + mine
	return o
}

// tryExecFails clones a child with flags that then execs missingPath.
// ENOENT means clone and every step before execve worked; clone's own
// failure comes back as its errno. mapSelf maps the caller's ids into a
// new user namespace.
func tryExecFails(call string, flags uintptr, mapSelf bool) Outcome {
	o := Outcome{Call: call}
	attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Cloneflags: flags}}
	if flags&unix.CLONE_NEWUSER != 0 && mapSelf {
		attr.Sys.UidMappings, attr.Sys.GidMappings = selfMappings()
	}
	pid, err := syscall.ForkExec(missingPath, []string{"hull-probe"}, attr)
	if err == nil { // someone created the file: reap what it started
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		o.fail(fmt.Errorf("execve %s unexpectedly worked", missingPath))
		return o
	}
	if errors.Is(err, syscall.ENOENT) {
		o.OK = true
		o.Note = "child created, then execve failed with ENOENT as intended"
		return o
	}
	o.fail(os.NewSyscallError("clone", err))
	return o
}

// selfMappings maps uid and gid 0 in a new user namespace to the caller's,
// so that the child may still execute the caller's binary.
func selfMappings() (uid, gid []syscall.SysProcIDMap) {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		[]syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
}

// stopped is a child that stopped at its first instruction after execve.
type stopped struct{ pid int }

// startStopped clones a child with flags; the child calls
// ptrace(PTRACE_TRACEME) and execs /proc/self/exe, which stops it with
// SIGTRAP before the new program runs. The caller must call kill.
func startStopped(flags uintptr) (*stopped, error) {
	return startStoppedMapped(flags, nil, nil)
}

func startStoppedMapped(flags uintptr, uids, gids []syscall.SysProcIDMap) (*stopped, error) {
	// ptrace requests must come from the thread that forked the tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{
		Cloneflags: flags,
		Ptrace:     true,
		Pdeathsig:  syscall.SIGKILL,
	}}
	if flags&unix.CLONE_NEWUSER != 0 {
		if uids == nil {
			uids, gids = selfMappings()
		}
		attr.Sys.UidMappings, attr.Sys.GidMappings = uids, gids
	}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"hull-probe"}, attr)
	if err != nil {
		return nil, os.NewSyscallError("clone", err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Wait4(pid, nil, 0, nil)
		if err == nil {
			err = fmt.Errorf("child %d did not stop at exec (wait status %#x)", pid, ws)
		}
		return nil, err
	}
	return &stopped{pid: pid}, nil
}

// kill ends the child and reaps it. A traced child dies on SIGKILL even
// while stopped.
func (c *stopped) kill() {
	syscall.Kill(c.pid, syscall.SIGKILL)
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(c.pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return
		}
	}
}
