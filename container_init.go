package hull

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// With ContainerConfig.Init the container's PID 1 is not its command but a
// tiny reaper, as docker's --init (tini) and podman's (catatonit): a
// process that is PID 1 of a PID namespace gets no signal it has no handler
// for, and inherits every orphan, which a program not written to be init
// never waits for. The reaper
//
//	starts CMD in a process group of its own (the terminal's foreground
//	  group, with Tty, so that ^C reaches CMD once)
//	forwards every signal it gets to CMD
//	reaps every child that exits (wait4(-1, WNOHANG) on SIGCHLD): the
//	  orphans that were reparented to it, and CMD
//	exits with CMD's status (128+N when CMD was killed by signal N);
//	  the kernel then kills what is left of the PID namespace
//
// The reaper is the monitor's own program: the same file, bind-mounted
// read-only at /dev/.hull-init/hull-init (in the container's /dev tmpfs, so
// the image's layers and the container's writes are untouched), and
// recognised by that name (IsMonitor). hull is linked against the C library
// (runtime/nsenter is C), which the container's image need not have: the
// program's interpreter (PT_INTERP) and the libraries it needs (DT_NEEDED)
// are bind-mounted beside it from the host, and the process runs as
//
//	/dev/.hull-init/ld.so --inhibit-cache --library-path /dev/.hull-init/lib \
//	    /dev/.hull-init/hull-init [monitor args] -- CMD...
//
// which the dynamic loader runs like any program; a static program is run
// directly.

// reaperDir is where the reaper and what it needs appear in the container.
const reaperDir = "/dev/.hull-init"

// reaperName is the reaper's file name: IsMonitor knows it by it.
const reaperName = "hull-init"

// isReaper reports whether this process is a container's reaper.
func isReaper() bool { return filepath.Base(os.Args[0]) == reaperName }

// reaperSpec returns the mounts that bring program (the monitor's) into
// the container and the process arguments that run it as the reaper of cmd
// (extra: the arguments that lead program to call Monitor).
func reaperSpec(program string, extra, cmd []string) ([]specs.Mount, []string, error) {
	bind := func(src, dst string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"bind", "ro", "nosuid", "nodev", "rprivate"}}
	}
	self := filepath.Join(reaperDir, reaperName)
	mounts := []specs.Mount{bind(program, self)}
	interp, libs, err := dynamicDeps(program)
	if err != nil {
		return nil, nil, fmt.Errorf("init: %w", err)
	}
	args := []string{self}
	if interp != "" {
		loader := filepath.Join(reaperDir, "ld.so")
		mounts = append(mounts, bind(interp, loader))
		for _, l := range libs {
			mounts = append(mounts, bind(l, filepath.Join(reaperDir, "lib", filepath.Base(l))))
		}
		args = []string{loader, "--inhibit-cache", "--library-path", filepath.Join(reaperDir, "lib"), self}
	}
	args = append(append(append(args, extra...), "--"), cmd...)
	return mounts, args, nil
}

// libDirs are where dynamicDeps looks for a library after the directory
// of the program's interpreter.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// dynamicDeps returns the host paths of program's ELF interpreter and of
// every library it needs, directly or through another ("" and none for a
// static program).
func dynamicDeps(program string) (interp string, libs []string, err error) {
	f, err := elf.Open(program)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", nil, fmt.Errorf("%s: PT_INTERP: %w", program, err)
		}
		interp = string(b[:len(b)-1]) // NUL-terminated
	}
	if interp == "" {
		return "", nil, nil
	}
	if interp, err = filepath.EvalSymlinks(interp); err != nil {
		return "", nil, err
	}
	dirs := append([]string{filepath.Dir(interp)}, libDirs...)
	seen := map[string]bool{filepath.Base(interp): true}
	queue, err := f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("%s: DT_NEEDED: %w", program, err)
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		path := ""
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				path = filepath.Join(d, name)
				break
			}
		}
		if path == "" {
			return "", nil, fmt.Errorf("%s needs %s, found in none of %q", program, name, dirs)
		}
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return "", nil, err
		}
		libs = append(libs, path)
		lf, err := elf.Open(path)
		if err != nil {
			return "", nil, err
		}
		more, err := lf.ImportedLibraries()
		lf.Close()
		if err != nil {
			return "", nil, fmt.Errorf("%s: DT_NEEDED: %w", path, err)
		}
		queue = append(queue, more...)
	}
	return interp, libs, nil
}

// reaper is the main of the reaper: it runs the command after "--" in args
// and returns its exit status.
func reaper(args []string) int {
	cmd := args
	for i, a := range args {
		if a == "--" {
			cmd = args[i+1:]
			break
		}
	}
	if len(cmd) == 0 {
		fmt.Fprintln(os.Stderr, "hull-init: no command after --")
		return 127
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs) // every signal: forwarded, or SIGCHLD
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "hull-init: %v\n", err)
		return 127
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		// The child's group gets the terminal: ^C goes to it alone.
		attr.Foreground, attr.Ctty = true, 0
	}
	p, err := os.StartProcess(path, cmd, &os.ProcAttr{
		Env: os.Environ(), Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}, Sys: attr,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "hull-init: %v\n", err)
		if errors.Is(err, os.ErrPermission) {
			return 126
		}
		return 127
	}
	child := p.Pid
	for s := range sigs {
		switch s {
		case unix.SIGCHLD:
			if code, done := reapAll(child); done {
				return code
			}
		case unix.SIGURG: // the Go runtime's own preemption signal
		default:
			_ = unix.Kill(child, s.(unix.Signal))
		}
	}
	return 0
}

// reapAll waits for every child that has exited and reports child's exit
// status once it is among them.
func reapAll(child int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return code, done
		}
		if pid == child {
			done = true
			code = ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
	}
}
