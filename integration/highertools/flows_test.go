package highertools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A flow is one thing a user of a higher tool does, written once against
// engine. It returns nil when the container behaved as it does under a
// correct runtime, errUnsupported (wrapped) when the tool cannot express
// it, or an error that says what differed.
type flow struct {
	name string
	run  func(ctx context.Context, e engine) error
}

var flows = []flow{
	{"run", flowRun},
	{"tty", flowTTY},
	{"exec-tty", flowExecTTY},
	{"detach-exec-stop-rm", flowDetach},
	{"limits", flowLimits},
	{"pause-resume", flowPauseResume},
	{"update", flowUpdate},
	{"kill-all", flowKillAll},
	{"delete-force-gone", flowDeleteForceGone},
}

// waiter is a container init that exits 7 on SIGTERM: a shell whose
// "wait" a trapped signal interrupts at once.
var waiter = []string{"sh", "-c", `trap "exit 7" TERM; sleep 1000 & wait`}

const (
	memoryLimit = 64 << 20
	pidsLimit   = 32
)

func expect(what string, got, want any, r result) error {
	if got == want {
		return nil
	}
	return fmt.Errorf("%s = %v, want %v\n%s", what, got, want, r)
}

// flowRun: stdin reaches the container, stdout and stderr come back, the
// exit code is the container's, and a missing executable is an error
// that names it (podman, which reads the runtime's JSON log, turns it
// into exit code 127).
func flowRun(ctx context.Context, e engine) error {
	r, err := e.run(ctx, container{
		args:  []string{"sh", "-c", `read line; echo "got $line"; echo to-stderr >&2; exit 3`},
		stdin: "hello\n",
	})
	if err != nil {
		return err
	}
	if !strings.Contains(r.stdout, "got hello") || !strings.Contains(r.stderr+r.stdout, "to-stderr") {
		return fmt.Errorf("stdin or output lost\n%s", r)
	}
	if err := expect("exit code", r.code, 3, r); err != nil {
		return err
	}
	if r, err = e.run(ctx, container{args: []string{"true"}}); err != nil {
		return err
	}
	if err := expect("exit code of true", r.code, 0, r); err != nil {
		return err
	}
	if r, err = e.run(ctx, container{args: []string{"/bin/no-such-binary"}}); err != nil {
		return err
	}
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "no-such-binary") {
		return fmt.Errorf("a missing executable: want a failure naming it\n%s", r)
	}
	if _, isPodman := e.(*podman); isPodman {
		return expect("podman's exit code for a missing executable", r.code, 127, r)
	}
	return nil
}

// flowTTY: the container's stdin and stdout are a terminal of its own.
func flowTTY(ctx context.Context, e engine) error {
	r, err := e.run(ctx, container{tty: true, args: []string{"sh", "-c", `test -t 0 && test -t 1 && echo "tty=$(tty)"; exit 4`}})
	if err != nil {
		return err
	}
	if !strings.Contains(r.stdout, "tty=/dev/pts/") {
		return fmt.Errorf("no terminal in the container\n%s", r)
	}
	return expect("exit code", r.code, 4, r)
}

// flowExecTTY: a process exec'd into a running container gets a
// terminal of its own (exec --tty --console-socket).
func flowExecTTY(ctx context.Context, e engine) error {
	name, err := e.start(ctx, container{args: waiter})
	if err != nil {
		return err
	}
	r, err := e.execTTY(ctx, name, "sh", "-c", `test -t 0 && test -t 1 && echo "tty=$(tty)"; exit 6`)
	if err != nil {
		return err
	}
	if !strings.Contains(r.stdout, "tty=/dev/pts/") {
		return fmt.Errorf("no terminal for the exec'd process\n%s", r)
	}
	if err := expect("exit code of exec", r.code, 6, r); err != nil {
		return err
	}
	if _, err := e.stop(ctx, name); err != nil {
		return err
	}
	return e.remove(ctx, name)
}

// flowDetach: a detached container runs; exec joins it (its pid 1 is the
// container's shell) and returns the exec'd process's exit code; stop
// delivers SIGTERM and reports the exit code; rm removes it.
func flowDetach(ctx context.Context, e engine) error {
	name, err := e.start(ctx, container{args: waiter})
	if err != nil {
		return err
	}
	if err := runtimeHolds(ctx, e, name); err != nil {
		return err
	}
	r, err := e.exec(ctx, name, "cat", "/proc/1/comm")
	if err != nil {
		return err
	}
	if strings.TrimSpace(r.stdout) != "sh" || r.code != 0 {
		return fmt.Errorf("exec: want pid 1 to be the container's sh\n%s", r)
	}
	if r, err = e.exec(ctx, name, "sh", "-c", "exit 5"); err != nil {
		return err
	}
	if err := expect("exit code of exec", r.code, 5, r); err != nil {
		return err
	}
	code, err := e.stop(ctx, name)
	if err != nil {
		return err
	}
	if code != 7 {
		return fmt.Errorf("exit code after stop = %d, want 7 (the init's SIGTERM trap)", code)
	}
	return e.remove(ctx, name)
}

// runtimeHolds checks that the runtime under test, not some default,
// runs the container: its state directory holds the container.
func runtimeHolds(ctx context.Context, e engine, name string) error {
	id, err := e.runtimeID(ctx, name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(e.runtimeRoot(), id, "state.json")); err != nil {
		return fmt.Errorf("%s holds no state for the container: %w", e.runtimePath(), err)
	}
	return nil
}

// limitsScript prints the memory and pids limits from the container's own
// cgroup files (v1 layout, else v2), then has the kernel enforce them: dd
// with a 128 MiB buffer is OOM-killed (137) under a 64 MiB limit, and
// forking past the pids limit fails (the shell says "can't fork").
const limitsScript = `
cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max
cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max
dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null; echo "dd=$?"
i=0; while [ $i -lt 64 ]; do sleep 30 & i=$((i+1)); done
echo forked-64
`

func flowLimits(ctx context.Context, e engine) error {
	c := container{memory: memoryLimit, pids: pidsLimit, args: []string{"sh", "-c", limitsScript}}
	r, err := e.run(ctx, c)
	withPids := true
	if errors.Is(err, errUnsupported) {
		// ctr has no pids flag: hold the runtime to the memory limit.
		c.pids, withPids = 0, false
		r, err = e.run(ctx, c)
	}
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 3 {
		return fmt.Errorf("short output\n%s", r)
	}
	if err := expect("memory limit read inside", strings.TrimSpace(lines[0]), fmt.Sprint(memoryLimit), r); err != nil {
		return err
	}
	if !strings.Contains(r.stdout, "dd=137") {
		return fmt.Errorf("a 128 MiB allocation under a 64 MiB limit was not OOM-killed\n%s", r)
	}
	if !withPids {
		return nil
	}
	if err := expect("pids limit read inside", strings.TrimSpace(lines[1]), fmt.Sprint(pidsLimit), r); err != nil {
		return err
	}
	if strings.Contains(r.stdout, "forked-64") || !strings.Contains(r.stdout+r.stderr, "can't fork") {
		return fmt.Errorf("64 forks under a pids limit of %d did not fail\n%s", pidsLimit, r)
	}
	return nil
}

// flowPauseResume: pause freezes the container's cgroup (seen in the
// freezer) and the tool says paused; resume thaws it and exec works again.
func flowPauseResume(ctx context.Context, e engine) error {
	name, err := e.start(ctx, container{args: waiter})
	if err != nil {
		return err
	}
	pid, err := e.pid(ctx, name)
	if err != nil {
		return err
	}
	if err := e.pause(ctx, name); err != nil {
		return err
	}
	if err := wantState(ctx, e, name, pid, "paused", true); err != nil {
		return err
	}
	if err := e.resume(ctx, name); err != nil {
		return err
	}
	if err := wantState(ctx, e, name, pid, "running", false); err != nil {
		return err
	}
	r, err := e.exec(ctx, name, "echo", "thawed")
	if err != nil {
		return err
	}
	if strings.TrimSpace(r.stdout) != "thawed" {
		return fmt.Errorf("exec after resume\n%s", r)
	}
	if _, err := e.stop(ctx, name); err != nil {
		return err
	}
	return e.remove(ctx, name)
}

func wantState(ctx context.Context, e engine, name string, pid int, status string, isFrozen bool) error {
	s, err := e.status(ctx, name)
	if err != nil {
		return err
	}
	if s != status {
		return fmt.Errorf("status = %q, want %q", s, status)
	}
	f, err := frozen(pid)
	if err != nil {
		return err
	}
	if f != isFrozen {
		return fmt.Errorf("%s: init (pid %d) frozen = %v, want %v", status, pid, f, isFrozen)
	}
	return nil
}

// flowUpdate: raising a running container's memory limit shows in its
// own cgroup file.
func flowUpdate(ctx context.Context, e engine) error {
	name, err := e.start(ctx, container{memory: memoryLimit, args: waiter})
	if err != nil {
		return err
	}
	if err := e.update(ctx, name, 2*memoryLimit); err != nil {
		return err
	}
	r, err := e.exec(ctx, name, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
	if err != nil {
		return err
	}
	if err := expect("memory limit after update", strings.TrimSpace(r.stdout), fmt.Sprint(2*memoryLimit), r); err != nil {
		return err
	}
	if _, err := e.stop(ctx, name); err != nil {
		return err
	}
	return e.remove(ctx, name)
}

// killAllScript: the init and a child shell each wait for SIGUSR1; the
// child exits on it, the init then waits for the child and exits 0. If
// the signal reaches the init alone, the child never exits and the init
// waits until the tool gives up and kills it (exit code 137). In the
// host's pid namespace no namespace teardown covers for a runtime that
// signals the init only.
const killAllScript = `(trap "exit 0" USR1; while :; do sleep 1; done) & child=$!
trap 'wait $child; exit 0' USR1
while :; do sleep 1; done`

// flowKillAll: kill --all delivers the signal to every process of the
// container's cgroup, not just its init.
func flowKillAll(ctx context.Context, e engine) error {
	name, err := e.start(ctx, container{hostPID: true, stopSignal: "USR1", args: []string{"sh", "-c", killAllScript}})
	if err != nil {
		return err
	}
	pid, err := e.pid(ctx, name)
	if err != nil {
		return err
	}
	// Wait for both shells and their sleeps: the init forks its first
	// sleep only after setting its trap.
	if err := eventually(ctx, 20*time.Second, "the container's four processes", func() (bool, error) {
		procs, err := pidsInCgroupOf(pid)
		return len(procs) >= 4, err
	}); err != nil {
		return err
	}
	code, err := e.killAll(ctx, name, "USR1")
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit code after kill --all SIGUSR1 = %d, want 0: the signal did not reach the child shell", code)
	}
	return e.remove(ctx, name)
}

// flowDeleteForceGone: the container is killed and deleted behind the
// tool's back, as after a crash; the runtime's delete --force of the
// container already gone and its state must say so ("does not exist", or
// for delete --force success, as runc does), and the tool must still
// remove the container cleanly.
func flowDeleteForceGone(ctx context.Context, e engine) error {
	name, err := e.start(ctx, container{args: waiter})
	if err != nil {
		return err
	}
	id, err := e.runtimeID(ctx, name)
	if err != nil {
		return err
	}
	rt := func(args ...string) (result, error) {
		return command{timeout: 30 * time.Second}.run(ctx, e.runtimePath(), append([]string{"--root", e.runtimeRoot()}, args...)...)
	}
	if r, err := rt("kill", id, "9"); err != nil || r.code != 0 {
		return fmt.Errorf("kill behind the tool's back: %v\n%s", err, r)
	}
	if err := eventually(ctx, 30*time.Second, name+" to stop", func() (bool, error) {
		s, err := e.status(ctx, name)
		return s == "stopped", err
	}); err != nil {
		return err
	}
	for i := range 2 {
		r, err := rt("delete", "--force", id)
		if err != nil {
			return err
		}
		if r.code != 0 && !strings.Contains(r.stderr, "does not exist") {
			return fmt.Errorf("delete --force #%d of a dead container: want success or \"does not exist\"\n%s", i+1, r)
		}
	}
	r, err := rt("state", id)
	if err != nil {
		return err
	}
	if r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		return fmt.Errorf("state of a deleted container: want a failure saying \"does not exist\"\n%s", r)
	}
	return e.remove(ctx, name)
}
