package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/runtime/seccomp"
	"golang.org/x/sys/unix"
)

// Each test below runs a real container and observes one feature from
// inside it.

func TestProcessSettingsSeenInside(t *testing.T) {
	e := newTestEnv(t)
	s := e.spec("sh", "-c", `
		echo "host=$(hostname)"
		echo "id=$(id -u):$(id -g):$(id -G)"
		echo "nofile=$(ulimit -n)"
		echo "umask=$(umask)"
		echo "cwd=$(pwd)"
		grep -E '^Cap(Prm|Eff|Bnd|Amb|Inh)' /proc/self/status | tr -d '\t' | sed 's/:/=/'
		grep NoNewPrivs /proc/self/status | tr -d '\t' | sed 's/:/=/'
		echo "oom=$(cat /proc/self/oom_score_adj)"
		echo "keys=$(wc -c < /proc/keys)"
		echo "firmware=$(ls /sys/firmware | wc -l)"
		if echo 1 > /proc/sys/vm/overcommit_memory 2>/dev/null; then echo procsys=writable; else echo procsys=readonly; fi
		if touch /newfile 2>/dev/null; then echo root=writable; else echo root=readonly; fi
		echo "domain=$(cat /proc/sys/kernel/domainname)"
		echo "shmmni=$(cat /proc/sys/kernel/shmmni)"
	`)
	umask := uint32(0o027)
	adj := 123
	s.Hostname = "inside"
	s.Domainname = "example.test"
	s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{2000, 2001}, Umask: &umask}
	s.Process.Cwd = "/tmp"
	s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 777, Hard: 888}}
	s.Process.OOMScoreAdj = &adj
	s.Linux.Sysctl = map[string]string{"kernel.shmmni": "1234"}
	caps := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps}
	code, out := e.run("settings", s)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			got[k] = v
		}
	}
	// CAP_CHOWN=0, CAP_KILL=5, CAP_NET_RAW=13.
	mask := fmt.Sprintf("%016x", 1<<0|1<<5|1<<13)
	for k, want := range map[string]string{
		"host": "inside", "id": "1000:1001:1001 2000 2001", "nofile": "777", "umask": "0027", "cwd": "/tmp",
		"CapPrm": mask, "CapEff": mask, "CapBnd": mask, "CapAmb": mask, "CapInh": mask, "NoNewPrivs": "1",
		"oom": "123", "keys": "0", "firmware": "0", "procsys": "readonly", "root": "readonly",
		"domain": "example.test", "shmmni": "1234",
	} {
		if got[k] != want {
			t.Errorf("inside the container %s = %q, want %q", k, got[k], want)
		}
	}
}

func TestExitCodesAndSignals(t *testing.T) {
	e := newTestEnv(t)
	// The init killed by a signal: Run reports 128+n, as a shell does.
	sigDir := t.TempDir()
	ks := e.spec("sh", "-c", "echo > /out/ready; sleep 1000")
	ks.Mounts = append(ks.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: sigDir, Options: []string{"rbind"}})
	go func() {
		waitFile(t, filepath.Join(sigDir, "ready"))
		if err := e.rt.Kill(context.Background(), "sig", unix.SIGKILL, false); err != nil {
			t.Error(err)
		}
	}()
	if code, out := e.run("sig", ks); code != 128+9 {
		t.Errorf("a container killed by SIGKILL exits %d (%s), want 137", code, out)
	}
	if code, _ := e.run("missing", e.spec("sh", "-c", "exit 42")); code != 42 {
		t.Errorf("exit 42 gave %d", code)
	}

	// A signal sent with Kill reaches the program (pid 1 in its pid
	// namespace, so only a signal it handles or SIGKILL).
	ctx := context.Background()
	dir := t.TempDir()
	s := e.spec("sh", "-c", "trap 'echo got TERM > /out/term; exit 0' TERM; echo ready > /out/ready; while true; do sleep 0.1; done")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}})
	st := e.start("trap", s)
	waitFile(t, filepath.Join(dir, "ready"))
	if err := e.rt.Kill(ctx, "trap", unix.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "term"))
	waitStatus(t, e.rt, "trap", Stopped)
	if err := e.rt.Kill(ctx, "trap", unix.SIGTERM, false); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Kill of a stopped container = %v, want ErrNotRunning", err)
	}
	_ = st
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(p); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", p)
}

func waitStatus(t *testing.T, rt *Runtime, id string, want Status) {
	t.Helper()
	var st *State
	for i := 0; i < 500; i++ {
		var err error
		if st, err = rt.State(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if st.Status == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("container %s is %s, never %s", id, st.Status, want)
}

func TestLifecycleStates(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	bundle := e.bundle(e.spec("sleep", "1000"))
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := e.rt.Create(ctx, "life", CreateOptions{Bundle: bundle, PidFile: pidFile}); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Create(ctx, "life", CreateOptions{Bundle: bundle}); !errors.Is(err, ErrExist) {
		t.Errorf("a second Create with the same id = %v, want ErrExist", err)
	}
	st, err := e.rt.State(ctx, "life")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(pidFile)
	if st.Status != Created || strconv.Itoa(st.Pid) != string(b) || st.Bundle != bundle {
		t.Errorf("after Create: %+v, pid file %q", st, b)
	}
	if err := e.rt.Start(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e.rt, "life", Running)
	if err := e.rt.Start(ctx, "life"); err == nil {
		t.Error("Start of a running container succeeded")
	}
	if err := e.rt.Delete(ctx, "life", false); err == nil || !strings.Contains(err.Error(), "not stopped") {
		t.Errorf("Delete of a running container without force = %v", err)
	}
	pids, err := e.rt.Pids(ctx, "life")
	if err != nil || len(pids) != 1 || pids[0] != st.Pid {
		t.Errorf("Pids = %v, %v; want [%d]", pids, err, st.Pid)
	}

	// Pause freezes: the init's task state becomes frozen; Resume thaws.
	if err := e.rt.Pause(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e.rt, "life", Paused)
	if err := e.rt.Resume(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e.rt, "life", Running)

	list, err := e.rt.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "life" {
		t.Errorf("List = %v, %v", list, err)
	}
	if err := e.rt.Delete(ctx, "life", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.State(ctx, "life"); !errors.Is(err, ErrNotExist) {
		t.Errorf("State after Delete = %v, want ErrNotExist", err)
	}
	if err := e.rt.Delete(ctx, "life", false); err == nil || err.Error() != "container life does not exist" {
		t.Errorf("Delete of a missing container = %v, want \"container life does not exist\"", err)
	}
	if err := e.rt.Delete(ctx, "life", true); err != nil {
		t.Errorf("Delete --force of a missing container = %v, want nil (as runc)", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", st.Pid)); err == nil {
		if start, alive := pidStart(st.Pid); alive && start != 0 {
			t.Errorf("init %d still alive after Delete --force", st.Pid)
		}
	}
}

func TestPauseFreezesWork(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	s := e.spec("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; done")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}})
	e.start("pause", s)
	counter := func() string { b, _ := os.ReadFile(filepath.Join(dir, "n")); return string(b) }
	waitFile(t, filepath.Join(dir, "n"))
	if err := e.rt.Pause(ctx, "pause"); err != nil {
		t.Fatal(err)
	}
	a := counter()
	time.Sleep(200 * time.Millisecond)
	if b := counter(); a != b {
		t.Errorf("the counter moved from %q to %q while paused", a, b)
	}
	if err := e.rt.Resume(ctx, "pause"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200 && counter() == a; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if counter() == a {
		t.Error("the counter did not move after Resume")
	}
}

func TestHooksReceiveState(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\ncat > "+dir+"/$1.json\n"), 0o755)
	// The program lives until the poststart hook has run, so that the
	// hook sees it running.
	s := e.spec("sh", "-c", "while [ ! -s /out/poststart.json ]; do sleep 0.01; done")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: dir, Options: []string{"rbind"}})
	s.Hooks = &specs.Hooks{}
	for _, kind := range []string{"createRuntime", "createContainer", "poststart", "poststop"} {
		h := []specs.Hook{{Path: hook, Args: []string{"hook.sh", kind}}}
		switch kind {
		case "createRuntime":
			s.Hooks.CreateRuntime = h
		case "createContainer":
			s.Hooks.CreateContainer = h
		case "poststart":
			s.Hooks.Poststart = h
		case "poststop":
			s.Hooks.Poststop = h
		}
	}
	if code, out := e.run("hooks", s); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, kind := range []string{"createRuntime", "createContainer", "poststart", "poststop"} {
		b, err := os.ReadFile(filepath.Join(dir, kind+".json"))
		if err != nil {
			t.Errorf("%s hook did not run: %v", kind, err)
			continue
		}
		var st specs.State
		if err := json.Unmarshal(b, &st); err != nil {
			t.Errorf("%s hook got %q: %v", kind, b, err)
			continue
		}
		if st.ID != "hooks" || (kind != "poststop" && st.Pid == 0) {
			t.Errorf("%s hook got state %+v", kind, st)
		}
	}
}

func TestHookFailureFailsCreate(t *testing.T) {
	e := newTestEnv(t)
	s := e.spec("true")
	s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
	err := e.rt.Create(context.Background(), "badhook", CreateOptions{Bundle: e.bundle(s)})
	if err == nil || !strings.Contains(err.Error(), "createRuntime hook /bin/false") {
		t.Errorf("Create with a failing hook = %v", err)
	}
	assertNothingLeft(t, e, "badhook", s)
}

func TestSeccompDeniesWithErrno(t *testing.T) {
	e := newTestEnv(t)
	s := e.spec("sh", "-c", "mkdir /tmp/x; echo rc=$?; ls -d /tmp")
	exdev := uint(unix.EXDEV)
	s.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &exdev,
		}},
	}
	code, out := e.run("seccomp", s)
	if code != 0 || !strings.Contains(out, "cross-device link") || !strings.Contains(out, "rc=1") {
		t.Errorf("mkdir under a filter returning EXDEV: exit %d, output %q", code, out)
	}
}

// consoleSocket listens on a new console socket and returns its path and
// a channel that delivers the pty master sent to it (nil on failure).
func consoleSocket(t *testing.T) (string, <-chan *os.File) {
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan *os.File, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- nil
			return
		}
		cms, _ := unix.ParseSocketControlMessage(oob[:oobn])
		fds, _ := unix.ParseUnixRights(&cms[0])
		got <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	return sock, got
}

// readUntil reads from a pty master until want appears or it closes.
func readUntil(master *os.File, want string) string {
	var out strings.Builder
	buf := make([]byte, 1024)
	for !strings.Contains(out.String(), want) {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return out.String()
}

func TestTerminalThroughConsoleSocket(t *testing.T) {
	e := newTestEnv(t)
	sock, got := consoleSocket(t)
	s := e.spec("sh", "-c", "tty; stty size; echo done")
	s.Process.Terminal = true
	s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 111}
	ctx := context.Background()
	if err := e.rt.Create(ctx, "tty", CreateOptions{Bundle: e.bundle(s), ConsoleSocket: sock}); err != nil {
		t.Fatal(err)
	}
	defer e.rt.Delete(ctx, "tty", true)
	master := <-got
	if master == nil {
		t.Fatal("no pty master arrived on the console socket")
	}
	defer master.Close()
	if err := e.rt.Start(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	if out := readUntil(master, "done"); !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "33 111") {
		t.Errorf("through the pty: %q, want the tty /dev/pts/0 of size 33 111", out)
	}
}

func TestExecWithTerminal(t *testing.T) {
	e := newTestEnv(t)
	e.start("exectty", e.spec("sleep", "1000"))
	sock, got := consoleSocket(t)
	s, _ := e.rt.Config(context.Background(), "exectty")
	proc := *s.Process
	proc.Terminal = true
	proc.Args = []string{"sh", "-c", "tty; echo done; exit 4"}
	p, err := e.rt.Exec(context.Background(), "exectty", ExecOptions{Process: &proc, ConsoleSocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	master := <-got
	if master == nil {
		t.Fatal("no pty master arrived")
	}
	defer master.Close()
	out := readUntil(master, "done")
	if code, err := p.Wait(nil); code != 4 || err != nil {
		t.Errorf("exec -t exit = %d, %v; want 4", code, err)
	}
	if !strings.Contains(out, "/dev/pts/") {
		t.Errorf("exec -t printed %q, want a /dev/pts tty", out)
	}
}

func TestUserNamespace(t *testing.T) {
	e := newTestEnv(t)
	s := e.spec("sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /proc/sysrq-trigger 2>/dev/null && echo wrote || echo denied")
	s.Root.Readonly = false
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	code, out := e.run("userns", s)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	f := strings.Fields(out)
	if len(f) < 8 || f[0] != "0" || f[1] != "200000" || f[2] != "65536" || f[3] != "0" || f[4] != "200000" || f[6] != "0" || f[7] != "denied" {
		t.Errorf("inside a user namespace mapped to 200000: %q", out)
	}
}

func TestJoinNamespaceByPath(t *testing.T) {
	e := newTestEnv(t)
	a := e.start("first", e.spec("sleep", "1000"))
	s := e.spec("sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/uts")
	for i, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace || n.Type == specs.UTSNamespace {
			s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/%s", a.Pid, nsProcName[n.Type])
		}
	}
	s.Hostname = ""
	code, out := e.run("second", s)
	wantNet, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", a.Pid))
	wantUTS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/uts", a.Pid))
	if code != 0 || out != wantNet+"\n"+wantUTS {
		t.Errorf("a container joining the first's net and uts namespaces sees %q (exit %d), want %q and %q", out, code, wantNet, wantUTS)
	}
}

func TestKillAllAndUpdate(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.start("all", e.spec("sh", "-c", "sleep 1000 & sleep 1000 & wait"))
	var pids []int
	for i := 0; i < 200; i++ {
		pids, _ = e.rt.Pids(ctx, "all")
		if len(pids) == 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) != 3 {
		t.Fatalf("Pids = %v, want the shell and two sleeps", pids)
	}
	limit := int64(10)
	if err := e.rt.Update(ctx, "all", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}); err != nil {
		t.Errorf("Update pids.limit: %v", err)
	}
	if code, out := e.exec("all", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 100 & done 2>&1; wait"); !strings.Contains(out, "fork") && !strings.Contains(out, "Resource temporarily unavailable") {
		t.Errorf("12 forks under pids.limit=10 all succeeded: exit %d, %q", code, out)
	}
	if err := e.rt.Kill(ctx, "all", unix.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e.rt, "all", Stopped)
	for _, p := range pids {
		if _, alive := pidStart(p); alive {
			t.Errorf("process %d survived kill --all", p)
		}
	}
}

// A filter with SCMP_ACT_NOTIFY hands its listener fd to the agent at
// linux.seccomp.listenerPath; the agent answers the container's mkdir.
func TestSeccompNotifyAgent(t *testing.T) {
	e := newTestEnv(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type got struct {
		state specs.ContainerProcessState
		call  string
		err   error
	}
	agent := make(chan got, 1)
	go func() {
		var g got
		defer func() { agent <- g }()
		conn, err := ln.AcceptUnix()
		if err != nil {
			g.err = err
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			g.err = err
			return
		}
		if g.err = json.Unmarshal(buf[:n], &g.state); g.err != nil {
			return
		}
		cms, _ := unix.ParseSocketControlMessage(oob[:oobn])
		fds, err := unix.ParseUnixRights(&cms[0])
		if err != nil {
			g.err = err
			return
		}
		defer unix.Close(fds[0])
		note, err := seccomp.Receive(fds[0])
		if err != nil {
			g.err = err
			return
		}
		g.call = note.Syscall()
		g.err = seccomp.Respond(fds[0], seccomp.Response{ID: note.ID, Errno: unix.EXDEV})
	}()
	s := e.spec("sh", "-c", "mkdir /tmp/x; echo rc=$?")
	s.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     sock,
		ListenerMetadata: "test-metadata",
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	}
	code, out := e.run("notify", s)
	g := <-agent
	if g.err != nil {
		t.Fatalf("agent: %v", g.err)
	}
	if code != 0 || !strings.Contains(out, "cross-device link") || !strings.Contains(out, "rc=1") {
		t.Errorf("mkdir answered EXDEV by the agent: exit %d, %q", code, out)
	}
	if !strings.HasPrefix(g.call, "mkdir") || g.state.Metadata != "test-metadata" || g.state.State.ID != "notify" || g.state.Pid == 0 {
		t.Errorf("agent saw call %q and state %+v", g.call, g.state)
	}
}

// An idmapped bind mount shows a host directory's files with their owners
// mapped: through a map 0 → 1000, a file owned by root on disk is seen as
// owned by 1000 (what a container whose user namespace maps its root to
// host uid 1000 needs to see its own files).
func TestIDMappedMount(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	f := filepath.Join(dir, "file")
	os.WriteFile(f, []byte("x"), 0o644)
	s := e.spec("sh", "-c", "stat -c '%u:%g' /idmapped/file /plain/file")
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/idmapped", Type: "bind", Source: dir, Options: []string{"rbind"},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}},
		specs.Mount{Destination: "/plain", Type: "bind", Source: dir, Options: []string{"rbind"}})
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	code, err := e.rt.Run(context.Background(), "idmap", CreateOptions{Bundle: e.bundle(s), Stdout: out, Stderr: out}, nil)
	if err != nil && strings.Contains(err.Error(), "cannot be idmapped by this kernel") {
		// tmpfs, say, before Linux 6.3 (the test VM's 6.1).
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out.Name())
	if got := strings.TrimSpace(string(b)); code != 0 || got != "1000:1000\n0:0" {
		t.Errorf("stat through an idmapped mount and a plain one: exit %d, %q; want 1000:1000 and 0:0", code, got)
	}
}

// exec joins the user namespace too (through the nsenter constructor):
// the exec'd process is root of the container's namespace, not the host.
func TestExecIntoUserNamespace(t *testing.T) {
	e := newTestEnv(t)
	s := e.spec("sleep", "1000")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	st := e.start("execuserns", s)
	want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", st.Pid))
	code, out := e.exec("execuserns", "sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u")
	f := strings.Fields(out)
	if code != 0 || len(f) != 5 || f[0] != want || f[1] != "0" || f[2] != "300000" || f[4] != "0" {
		t.Errorf("exec into a user namespace container: exit %d, %q; want %s, the map 0 300000, uid 0", code, out, want)
	}
}

// A time namespace with an offset: the container's boot clock runs a day
// ahead of the host's, also when a user namespace of its own owns it.
func TestTimeNamespaceOffsets(t *testing.T) {
	e := newTestEnv(t)
	for _, userns := range []bool{false, true} {
		s := e.spec("sh", "-c", "cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime")
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 86400}}
		if userns {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
		}
		code, out := e.run(fmt.Sprintf("timens-%v", userns), s)
		b, _ := os.ReadFile("/proc/uptime")
		host, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
		f := strings.Fields(out)
		if code != 0 || len(f) < 7 || f[3] != "boottime" || f[4] != "86400" {
			t.Fatalf("inside a time namespace (user namespace %v): exit %d, %q", userns, code, out)
		}
		// The program itself (pid 1), not just its children, is in the
		// namespace, also where execve does not switch time namespaces
		// (the test VM's 6.1).
		if up, _ := strconv.ParseFloat(f[6], 64); up < host+86400-60 {
			t.Errorf("uptime inside %v s (user namespace %v), host %v s: want a day more", up, userns, host)
		}
	}
}
