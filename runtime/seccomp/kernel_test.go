package seccomp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
)

// These tests load compiled filters into the kernel. A filter can never be
// removed, so each runs in a child: the test binary re-executed with
// HULL_SECCOMP_CHILD set, which sets no_new_privs, loads the profile from
// HULL_SECCOMP_PROFILE and then does what its mode says.

const (
	envChild   = "HULL_SECCOMP_CHILD"
	envProfile = "HULL_SECCOMP_PROFILE"
	envArg     = "HULL_SECCOMP_ARG"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		if err := child(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(111)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// probe is one raw system call a child makes, and what it got.
type probe struct {
	Nr    uintptr
	Args  [6]uintptr
	R     uintptr
	Errno syscall.Errno
}

func child(mode string) error {
	goruntime.LockOSThread()
	var s specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(os.Getenv(envProfile)), &s); err != nil {
		return err
	}
	f, err := Compile(&s)
	if err != nil {
		return err
	}
	if os.Getenv("HULL_SECCOMP_NO_NNP") == "" {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return err
		}
	}
	fd, err := f.Load()
	if err != nil {
		return err
	}
	switch mode {
	case "probe":
		var probes []probe
		if err := json.Unmarshal([]byte(os.Getenv(envArg)), &probes); err != nil {
			return err
		}
		for i, p := range probes {
			probes[i].R, _, probes[i].Errno = unix.Syscall6(p.Nr, p.Args[0], p.Args[1], p.Args[2], p.Args[3], p.Args[4], p.Args[5])
		}
		return json.NewEncoder(os.Stdout).Encode(probes)
	case "notify":
		// Hand the listener to the agent (the parent) at listenerPath,
		// then make the notified call and report what it answered.
		st := specs.ContainerProcessState{Pid: os.Getpid(), Metadata: s.ListenerMetadata,
			State: specs.State{ID: "notify-test", Status: specs.StateCreating, Pid: os.Getpid()}}
		if err := SendListener(context.Background(), s.ListenerPath, fd, st); err != nil {
			return err
		}
		unix.Close(fd)
		r, _, errno := unix.Syscall(unix.SYS_GETPRIORITY, 0xdead, 0xbeef, 0)
		fmt.Printf("%d %d\n", r, errno)
		r, _, errno = unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0)
		fmt.Printf("%d %d\n", r, errno)
		return nil
	case "hold":
		// Keep the filter loaded until the parent has looked at it.
		fmt.Println("loaded")
		_, err := io.Copy(io.Discard, os.Stdin)
		return err
	case "exec":
		var argv []string
		if err := json.Unmarshal([]byte(os.Getenv(envArg)), &argv); err != nil {
			return err
		}
		// Programs killed by SIGSYS would dump core: not here.
		if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
			return err
		}
		return unix.Exec(argv[0], argv, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"})
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func startChild(t *testing.T, mode string, s *specs.LinuxSeccomp, arg any) *exec.Cmd {
	t.Helper()
	prof, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	a, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envProfile+"="+string(prof), envArg+"="+string(a))
	return cmd
}

func runProbes(t *testing.T, s *specs.LinuxSeccomp, probes []probe) []probe {
	t.Helper()
	cmd := startChild(t, "probe", s, probes)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.Bytes())
	}
	var got []probe
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return got
}

// A denied call fails with the configured errno, an allowed one works, and
// an argument condition matches exactly the values it should, 64-bit
// values included.
func TestKernelErrnoAndConditions(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdirat", "mkdir"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EXDEV))},
			// getpriority(which, who): EMLINK when who > 2^32+5 and
			// which == 7; ENOTNAM when who & 0xff00 == 0x1200.
			{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EMLINK)),
				Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpGreaterThan, Value: 1<<32 + 5}, {Index: 0, Op: specs.OpEqualTo, Value: 7}}},
			{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOTNAM)),
				Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpMaskedEqual, Value: 0xff00, ValueTwo: 0x1200}}},
		},
	}
	dir := t.TempDir()
	gp := func(which, who uintptr) probe {
		return probe{Nr: unix.SYS_GETPRIORITY, Args: [6]uintptr{which, who}}
	}
	probes := []probe{
		{Nr: unix.SYS_GETPID},
		gp(7, 1<<32+6),      // EMLINK
		gp(7, 1<<32+5),      // not above: the kernel's EINVAL (which 7)
		gp(6, 1<<32+6),      // which differs: EINVAL
		gp(7, 6),            // high word 0: EINVAL
		gp(7, 1<<33),        // EMLINK: high word alone decides
		gp(9, 0x1234),       // ENOTNAM
		gp(9, 1<<40|0x12ff), // ENOTNAM: the mask ignores the rest
		gp(9, 0x1334),       // EINVAL
		gp(unix.PRIO_PROCESS, 0),
	}
	want := []syscall.Errno{0, unix.EMLINK, unix.EINVAL, unix.EINVAL, unix.EINVAL, unix.EMLINK, unix.ENOTNAM, unix.ENOTNAM, unix.EINVAL, 0}
	got := runProbes(t, s, probes)
	for i := range want {
		if got[i].Errno != want[i] {
			t.Errorf("syscall %d%x: errno %v (%d), want %v", got[i].Nr, got[i].Args[:2], got[i].Errno, got[i].Errno, want[i])
		}
	}
	if got[0].R == 0 {
		t.Error("getpid returned 0")
	}

	// mkdir(1) under the filter: EXDEV, and nothing was created.
	cmd := startChild(t, "exec", s, []string{"/bin/mkdir", dir + "/x"})
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Invalid cross-device link") {
		t.Errorf("mkdir under the filter: %v, %q; want EXDEV (Invalid cross-device link)", err, out)
	}
	if _, err := os.Stat(dir + "/x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mkdir was denied but %s/x exists: %v", dir, err)
	}
}

// SCMP_ACT_KILL_PROCESS kills the whole process with SIGSYS.
func TestKernelKillProcess(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"getpriority"}, Action: specs.ActKillProcess}}}
	cmd := startChild(t, "probe", s, []probe{{Nr: unix.SYS_GETPRIORITY}})
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v, want killed by SIGSYS", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %v, want killed by SIGSYS", ws)
	}
}

// SCMP_ACT_NOTIFY: the child sends its listener fd to listenerPath with
// SendListener; the parent, as the agent, receives the notification,
// checks it and answers, and the child's call returns the answer.
func TestKernelNotify(t *testing.T) {
	for _, flags := range [][]specs.LinuxSeccompFlag{nil, {specs.LinuxSeccompFlagWaitKillableRecv}} {
		t.Run(fmt.Sprint(flags), func(t *testing.T) { testNotify(t, flags) })
	}
}

func testNotify(t *testing.T, flags []specs.LinuxSeccompFlag) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: flags, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"getpriority"}, Action: specs.ActNotify}}}
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Notifies() {
		t.Fatal("Notifies() = false for a filter with SCMP_ACT_NOTIFY")
	}
	sock := t.TempDir() + "/agent.sock"
	s.ListenerPath, s.ListenerMetadata = sock, "answer=42"
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Not an assertion: a child that dies before connecting must fail
	// the test, not hang it.
	if err := ln.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	cmd := startChild(t, "notify", s, nil)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// The agent's side: one message, the state as JSON and the fd.
	conn, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	m, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("reading the agent's message: %v\n%s", err, stderr.Bytes())
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:m], &st); err != nil {
		t.Fatalf("state %q: %v", buf[:m], err)
	}
	if st.Version != specs.Version || !slices.Equal(st.Fds, []string{"seccompFd"}) || st.Pid != cmd.Process.Pid ||
		st.Metadata != "answer=42" || st.State.ID != "notify-test" {
		t.Errorf("container process state %+v", st)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v: %v\n%s", msgs, err, stderr.Bytes())
	}
	rights, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(rights) != 1 {
		t.Fatalf("SCM_RIGHTS %v: %v", rights, err)
	}
	listener := rights[0]
	defer unix.Close(listener)

	// First call: answer with a value.
	n, err := Receive(listener)
	if err != nil {
		t.Fatal(err)
	}
	if n.Syscall() != "getpriority" || n.Args[0] != 0xdead || n.Args[1] != 0xbeef || n.Pid != uint32(cmd.Process.Pid) {
		t.Fatalf("notification %+v (%s), want getpriority(0xdead, 0xbeef) from pid %d", n, n.Syscall(), cmd.Process.Pid)
	}
	if !NotificationValid(listener, n.ID) {
		t.Error("NotificationValid = false for a pending notification")
	}
	if err := Respond(listener, Response{ID: n.ID, Val: 42}); err != nil {
		t.Fatal(err)
	}
	if NotificationValid(listener, n.ID) {
		t.Error("NotificationValid = true after the response")
	}
	// Second call: let the kernel run it.
	n, err = Receive(listener)
	if err != nil {
		t.Fatal(err)
	}
	if err := Respond(listener, Response{ID: n.ID, Continue: true}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.Bytes())
	}
	// getpriority's raw return is 20-nice, and the child has the test's
	// nice value (the test may run under nice).
	raw, _, _ := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0)
	if got, want := stdout.String(), fmt.Sprintf("42 0\n%d 0\n", raw); got != want {
		t.Errorf("child saw %q, want %q", got, want)
	}
}

// docker's default profile: the kernel accepts the program, and a shell
// runs under it; what the profile denies fails with EPERM.
func TestKernelDockerProfileShell(t *testing.T) {
	s := loadProfile(t, "docker.json")
	script := `echo hello; mkdir "$1/ok" && echo made; unshare -m true || echo unshare denied`
	cmd := startChild(t, "exec", s, []string{"/bin/sh", "-c", script, "sh", t.TempDir()})
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("shell under the docker profile: %v\n%s", err, out)
	}
	for _, want := range []string{"hello\n", "made\n", "Operation not permitted", "unshare denied\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}

// Every action, seen from a program that calls mkdir(2) under it.
func TestKernelEveryAction(t *testing.T) {
	script := `/bin/mkdir "$1/x" 2>&1; echo "rc=$?"; if [ -d "$1/x" ]; then echo exists; fi`
	sigsys := fmt.Sprintf("rc=%d\n", 128+int(unix.SIGSYS))
	tests := []struct {
		action   specs.LinuxSeccompAction
		errnoRet *uint
		want     []string
		exists   bool
	}{
		{specs.ActAllow, nil, []string{"rc=0\n"}, true},
		{specs.ActLog, nil, []string{"rc=0\n"}, true},
		{specs.ActErrno, uintp(uint(unix.EXDEV)), []string{"Invalid cross-device link", "rc=1\n"}, false},
		{specs.ActErrno, nil, []string{"Operation not permitted", "rc=1\n"}, false},
		{specs.ActErrno, uintp(0), []string{"rc=0\n"}, false},                        // "succeeds" without running
		{specs.ActTrace, nil, []string{"Function not implemented", "rc=1\n"}, false}, // no tracer: ENOSYS
		{specs.ActTrap, nil, []string{sigsys}, false},
		{specs.ActKill, nil, []string{sigsys}, false},
		{specs.ActKillThread, nil, []string{sigsys}, false},
		{specs.ActKillProcess, nil, []string{sigsys}, false},
	}
	for _, tt := range tests {
		name := string(tt.action)
		if tt.errnoRet != nil {
			name += fmt.Sprintf("(%d)", *tt.errnoRet)
		}
		t.Run(name, func(t *testing.T) {
			s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir", "mkdirat"}, Action: tt.action, ErrnoRet: tt.errnoRet}}}
			if tt.action == specs.ActAllow {
				s.DefaultAction = specs.ActLog // a rule equal to the default is skipped
			}
			dir := t.TempDir()
			out, err := startChild(t, "exec", s, []string{"/bin/sh", "-c", script, "sh", dir}).CombinedOutput()
			if err != nil {
				t.Fatalf("shell: %v\n%s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
			if got := strings.Contains(string(out), "exists"); got != tt.exists {
				t.Errorf("directory created = %v, want %v (output %q)", got, tt.exists, out)
			}
		})
	}
}

// Loading needs no privilege once no_new_privs is set: an unprivileged
// user's process filters itself.
func TestKernelUnprivileged(t *testing.T) {
	testvm.Require(t, testvm.Root) // to become nobody
	// The test binary, where nobody can run it.
	dir, err := os.MkdirTemp("", "hull-seccomp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "seccomp.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EXDEV))}}}
	cmd := startChild(t, "probe", s, []probe{{Nr: unix.SYS_GETPRIORITY}, {Nr: unix.SYS_GETUID}})
	cmd.Path = exe
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child as nobody: %v\n%s", err, stderr.Bytes())
	}
	var got []probe
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	if got[0].Errno != unix.EXDEV || got[1].R != 65534 {
		t.Errorf("as nobody under the filter: getpriority errno %v, getuid %d; want EXDEV, 65534", got[0].Errno, got[1].R)
	}

	// Without no_new_privs the kernel refuses, and the error says why.
	cmd = startChild(t, "probe", s, []probe{})
	cmd.Path, cmd.Dir = exe, dir
	cmd.Env = append(cmd.Env, "HULL_SECCOMP_NO_NNP=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.CombinedOutput()
	want := "seccomp: permission denied (no_new_privs is not set and the thread lacks CAP_SYS_ADMIN)"
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("Load as nobody without no_new_privs: %v, %q; want %q", err, out, want)
	}
}
