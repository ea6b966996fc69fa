package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A created container's init runs hull-init when it is next to hull, and
// hull itself when hull stands alone; either way from a read-only mount
// of that very file (same inode), through which nothing can be written
// (CVE-2019-5736), and the container starts and ends normally. Entering
// the container's mount namespace (exec) needs runtime/nsenter's
// constructor, which only hull-init has: hull alone refuses it, saying
// so.
func TestInitProgram(t *testing.T) {
	testvm.Require(t, testvm.Root)
	built := testvm.Hull(t)
	alone := filepath.Join(t.TempDir(), "hull")
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	busyboxRootfs(t, filepath.Join(bundle, "rootfs"), "true")
	hullSpec(t, alone, bundle, "true")
	for _, tc := range []struct {
		name, hull, program string
		execErr             string // what "hull exec" says, or "" when it works
	}{
		{"beside hull", built, filepath.Join(filepath.Dir(built), runtime.InitProgramName), ""},
		{"hull alone", alone, alone, "mount or time namespace needs hull-init next to " + alone + ": only a program built with cgo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			pidFile := filepath.Join(t.TempDir(), "pid")
			hull := func(args ...string) {
				t.Helper()
				// A file, not a pipe: a created container's init keeps
				// the stdio of "hull create" until it execs.
				out, err := os.CreateTemp(t.TempDir(), "out")
				if err != nil {
					t.Fatal(err)
				}
				defer out.Close()
				cmd := exec.Command(tc.hull, append([]string{"--root", root}, args...)...)
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Run(); err != nil {
					b, _ := os.ReadFile(out.Name())
					t.Fatalf("hull %s: %v\n%s", strings.Join(args, " "), err, b)
				}
			}
			hull("create", "--bundle", bundle, "--pid-file", pidFile, "c")
			defer exec.Command(tc.hull, "--root", root, "delete", "--force", "c").Run()
			pid, _ := os.ReadFile(pidFile)
			exe := "/proc/" + strings.TrimSpace(string(pid)) + "/exe"
			var got, want unix.Stat_t
			if err := unix.Stat(exe, &got); err != nil {
				t.Fatal(err)
			}
			if err := unix.Stat(tc.program, &want); err != nil {
				t.Fatal(err)
			}
			if got.Dev != want.Dev || got.Ino != want.Ino {
				l, _ := os.Readlink(exe)
				t.Errorf("the init runs %s (inode %d), want %s (inode %d)", l, got.Ino, tc.program, want.Ino)
			}
			// Opening it for writing fails with ETXTBSY while the init
			// runs it; what protects the file for good is the mount.
			var fs unix.Statfs_t
			if err := unix.Statfs(exe, &fs); err != nil || fs.Flags&unix.ST_RDONLY == 0 {
				t.Errorf("the init runs its program from a writable mount (statfs flags %#x, %v)", fs.Flags, err)
			}
			out, err := exec.Command(tc.hull, "--root", root, "exec", "c", "/bin/true").CombinedOutput()
			if tc.execErr == "" && err != nil || tc.execErr != "" && (err == nil || !strings.Contains(string(out), tc.execErr)) {
				t.Errorf("hull exec: %v, %s; want error %q", err, out, tc.execErr)
			}
			hull("start", "c")
			hull("delete", "--force", "c")
			if _, err := os.Stat(filepath.Join(root, "c")); !os.IsNotExist(err) {
				t.Errorf("state of c still there: %v", err)
			}
		})
	}
}

// hullSpec writes hull's default config.json into bundle, running args
// without a terminal.
func hullSpec(t *testing.T, hull, bundle string, args ...string) {
	t.Helper()
	if out, err := exec.Command(hull, "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		t.Fatalf("hull spec: %v\n%s", err, out)
	}
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = args
	if b, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hull-init replaced between create and start (an upgrade, a new inode):
// the container is still created, not taken for running, and starts.
func TestInitProgramReplaced(t *testing.T) {
	testvm.Require(t, testvm.Root)
	hull := testvm.CopyHull(t, t.TempDir())
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	busyboxRootfs(t, filepath.Join(bundle, "rootfs"), "true")
	hullSpec(t, hull, bundle, "true")
	root := filepath.Join(dir, "state")
	run := func(args ...string) string {
		t.Helper()
		out, err := os.CreateTemp(dir, "out") // the init keeps create's stdio
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd := exec.Command(hull, append([]string{"--root", root}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		err = cmd.Run()
		b, _ := os.ReadFile(out.Name())
		if err != nil {
			t.Fatalf("hull %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	run("create", "--bundle", bundle, "c")
	defer exec.Command(hull, "--root", root, "delete", "--force", "c").Run()

	initProgram := filepath.Join(filepath.Dir(hull), runtime.InitProgramName)
	b, err := os.ReadFile(initProgram)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initProgram+".new", b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(initProgram+".new", initProgram); err != nil {
		t.Fatal(err)
	}
	var st specs.State
	if err := json.Unmarshal([]byte(run("state", "c")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != specs.StateCreated {
		t.Errorf("after hull-init was replaced, status %q, want created", st.Status)
	}
	run("start", "c")
	run("delete", "--force", "c")
}
