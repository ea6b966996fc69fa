package capability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
)

// These tests change capabilities for real, so each runs in a child: the
// test binary re-executed with HULL_CAP_CHILD set. The parent observes the
// result from outside, in /proc/<pid>/task/<tid>/status: capabilities
// belong to a thread, and the child's locked thread need not be its main
// one.

const (
	envChild = "HULL_CAP_CHILD"
	envCaps  = "HULL_CAP_SPEC"
	envPath  = "HULL_CAP_PATH"
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

func child(mode string) error {
	goruntime.LockOSThread()
	var c specs.LinuxCapabilities
	if err := json.Unmarshal([]byte(os.Getenv(envCaps)), &c); err != nil {
		return err
	}
	switch mode {
	case "apply":
		// Apply, try a chown that needs CAP_CHOWN, report, and stay
		// alive until the parent has read our status.
		if err := Apply(&c); err != nil {
			return err
		}
		err := unix.Chown(os.Getenv(envPath), 1234, 1234)
		errno := 0
		if e, ok := err.(syscall.Errno); ok {
			errno = int(e)
		}
		fmt.Printf("%d %d\n", unix.Gettid(), errno)
		_, _ = io.Copy(io.Discard, os.Stdin)
		return nil
	case "exec":
		// Apply as root, then exec a program: what survives execve.
		if err := Apply(&c); err != nil {
			return err
		}
		return unix.Exec("/bin/sh", []string{"sh", "-c", `grep ^Cap /proc/self/status; /bin/chown 1234 "$0"`, os.Getenv(envPath)}, nil)
	case "user":
		// Become nobody around the capability steps, then exec a
		// program that prints its own status.
		st, err := FromSpec(&c)
		if err != nil {
			return err
		}
		err = st.ApplyAsUser(func() error {
			if err := unix.Setgroups(nil); err != nil {
				return err
			}
			if err := unix.Setresgid(65534, 65534, 65534); err != nil {
				return err
			}
			return unix.Setresuid(65534, 65534, 65534)
		})
		if err != nil {
			return err
		}
		return unix.Exec("/bin/cat", []string{"cat", "/proc/self/status"}, nil)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func childCmd(t *testing.T, mode string, c *specs.LinuxCapabilities) *exec.Cmd {
	t.Helper()
	testvm.Require(t, testvm.Root) // capabilities are set for real
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envCaps+"="+string(b))
	return cmd
}

var defaultCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

// Apply sets exactly the five sets the spec names, as the kernel reports
// them, and a capability left out really is gone.
func TestApplyObserved(t *testing.T) {
	noChown := defaultCaps[1:]
	tests := []struct {
		name      string
		caps      specs.LinuxCapabilities
		wantChown syscall.Errno
	}{
		{"docker defaults", specs.LinuxCapabilities{Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps}, 0},
		{"without CAP_CHOWN", specs.LinuxCapabilities{Bounding: noChown, Effective: noChown, Permitted: noChown}, unix.EPERM},
		{"CAP_CHOWN permitted, not effective", specs.LinuxCapabilities{Bounding: defaultCaps, Effective: noChown, Permitted: defaultCaps}, unix.EPERM},
		{"ambient", specs.LinuxCapabilities{
			Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps,
			Inheritable: []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}, Ambient: []string{"CAP_NET_BIND_SERVICE"}}, 0},
		{"high capabilities", specs.LinuxCapabilities{
			Bounding:  []string{"CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_PERFMON", "CAP_CHOWN"},
			Effective: []string{"CAP_CHECKPOINT_RESTORE"}, Permitted: []string{"CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_CHOWN"},
			Inheritable: []string{"CAP_BPF"}, Ambient: []string{"CAP_BPF"}}, unix.EPERM},
		{"nothing", specs.LinuxCapabilities{}, unix.EPERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := FromSpec(&tt.caps)
			if err != nil {
				t.Fatal(err)
			}
			file := t.TempDir() + "/f"
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			got, errno := applyInChild(t, &tt.caps, file)
			if got != want {
				t.Errorf("the kernel reports\n%v\nwant\n%v", got, want)
			}
			if errno != tt.wantChown {
				t.Errorf("chown under %s: errno %v, want %v", tt.name, errno, tt.wantChown)
			}
			st, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			owned := st.Sys().(*syscall.Stat_t).Uid == 1234
			if owned != (tt.wantChown == 0) {
				t.Errorf("file owner uid %d after chown with errno %v", st.Sys().(*syscall.Stat_t).Uid, errno)
			}
		})
	}
}

// applyInChild has a child Apply c and try chown(path), and returns the
// sets the kernel then reports for the child's thread and chown's errno.
func applyInChild(t *testing.T, c *specs.LinuxCapabilities, path string) (State, syscall.Errno) {
	t.Helper()
	cmd := childCmd(t, "apply", c)
	cmd.Env = append(cmd.Env, envPath+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the child exits
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v\n%s", err, stderr.Bytes())
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.Bytes())
	}
	var tid, errno int
	if _, err := fmt.Sscan(line, &tid, &errno); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	got, err := ReadStatus(strconv.Itoa(cmd.Process.Pid) + "/task/" + strconv.Itoa(tid))
	if err != nil {
		t.Fatal(err)
	}
	return got, syscall.Errno(errno)
}

// Ambient capabilities survive execve of a program run by an ordinary user
// (and become its permitted and effective sets); without them, that
// program has nothing.
func TestAmbientAcrossExecAsUser(t *testing.T) {
	nbs := []string{"CAP_NET_BIND_SERVICE"}
	bounding := []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}
	tests := []struct {
		name string
		caps specs.LinuxCapabilities
		want State
	}{
		{"ambient", specs.LinuxCapabilities{Bounding: bounding, Effective: nbs, Permitted: nbs, Inheritable: nbs, Ambient: nbs},
			State{Bounding: Of(unix.CAP_NET_BIND_SERVICE, unix.CAP_KILL), Effective: Of(unix.CAP_NET_BIND_SERVICE),
				Permitted: Of(unix.CAP_NET_BIND_SERVICE), Inheritable: Of(unix.CAP_NET_BIND_SERVICE), Ambient: Of(unix.CAP_NET_BIND_SERVICE)}},
		{"no ambient", specs.LinuxCapabilities{Bounding: bounding, Effective: nbs, Permitted: nbs, Inheritable: nbs},
			State{Bounding: Of(unix.CAP_NET_BIND_SERVICE, unix.CAP_KILL), Inheritable: Of(unix.CAP_NET_BIND_SERVICE)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := childCmd(t, "user", &tt.caps)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, stderr.Bytes())
			}
			if !strings.Contains(string(out), "\nUid:\t65534\t65534\t65534\t65534\n") {
				t.Errorf("the program does not run as nobody:\n%s", out)
			}
			got, err := ParseStatus(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("after execve as nobody the kernel reports\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// Current reads the calling thread's sets; they match its status file.
func TestCurrent(t *testing.T) {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	got, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadStatus("thread-self")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Current() = %v\nwant %v", got, want)
	}
}

// An ambient capability that is not inheritable cannot be raised: Apply
// skips it, as runc does for its own default spec, and the rest applies.
func TestApplySkipsUnraisableAmbient(t *testing.T) {
	c := &specs.LinuxCapabilities{Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps,
		Inheritable: []string{"CAP_NET_BIND_SERVICE"}, Ambient: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"}}
	st, err := FromSpec(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.UnraisableAmbient(); got != Of(unix.CAP_KILL) {
		t.Errorf("UnraisableAmbient() = %v, want CAP_KILL", got)
	}
	got, _ := applyInChild(t, c, "/nonexistent")
	if got.Ambient != Of(unix.CAP_NET_BIND_SERVICE) || got.Permitted != st.Permitted {
		t.Errorf("the kernel reports\n%v\nwant ambient CAP_NET_BIND_SERVICE only", got)
	}
}

// SetAmbient itself reports what the kernel refuses, naming the step.
func TestSetAmbientRefused(t *testing.T) {
	testvm.Require(t, testvm.Root)
	goruntime.LockOSThread() // the thread's ambient set is cleared: never unlocked
	cur, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	if cur.Ambient != 0 || cur.Inheritable.Has(unix.CAP_KILL) {
		t.Skipf("the test process already has ambient or inheritable capabilities: %v", cur)
	}
	err = SetAmbient(Of(unix.CAP_KILL))
	want := "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL): prctl: operation not permitted"
	if err == nil || err.Error() != want || !errors.Is(err, unix.EPERM) {
		t.Errorf("SetAmbient(CAP_KILL) without it inheritable = %v, want %q", err, want)
	}
}

// The bounding set limits root too: after execve, root's program gets the
// bounding set as its permitted set, so a capability dropped from it is
// gone even for uid 0, and chown(1) fails.
func TestBoundingLimitsRootAcrossExec(t *testing.T) {
	noChown := defaultCaps[1:]
	for _, tt := range []struct {
		name     string
		bounding []string
		chown    bool
	}{{"CAP_CHOWN in bounding", defaultCaps, true}, {"CAP_CHOWN dropped", noChown, false}} {
		t.Run(tt.name, func(t *testing.T) {
			file := t.TempDir() + "/f"
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			// Permitted and effective keep all we have (a sandbox may
			// hold less than every capability): only the bounding set
			// differs.
			self, err := ReadStatus("self")
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, c := range self.Permitted.Caps() {
				all = append(all, c.String())
			}
			cmd := childCmd(t, "exec", &specs.LinuxCapabilities{Bounding: tt.bounding, Effective: all, Permitted: all})
			cmd.Env = append(cmd.Env, envPath+"="+file)
			out, err := cmd.CombinedOutput()
			if tt.chown != (err == nil) {
				t.Errorf("chown after execve: %v, want success %v\n%s", err, tt.chown, out)
			}
			if !tt.chown && !strings.Contains(string(out), "Operation not permitted") {
				t.Errorf("chown failed without EPERM:\n%s", out)
			}
			st, err := ParseStatus(strings.NewReader(string(out)))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Parse(tt.bounding)
			want &= self.Bounding
			if st.Bounding != want || st.Permitted != want || st.Effective != want {
				t.Errorf("after execve as root:\n%v\nwant bounding = permitted = effective = %v", st, want)
			}
		})
	}
}
