package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
)

// childEnv makes this test binary run Run and print the Features as JSON
// instead of running tests: TestRunRootless starts it as nobody.
const childEnv = "HULL_PROBE_TEST_RUN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		f, err := Run(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		json.NewEncoder(os.Stdout).Encode(f)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunRootless runs the probes as nobody, the way a rootless runtime
// meets the kernel: every namespace is tried inside a new user namespace,
// and what needs CAP_SYS_ADMIN in the initial namespace is not tried.
func TestRunRootless(t *testing.T) {
	testvm.Require(t, testvm.Root)
	// nobody must be able to execute the binary, and the stopped child
	// execs it again inside its user namespace.
	// t.TempDir makes two levels of 0700 directories below os.TempDir.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "probe.test")
	copyFile(t, os.Args[0], bin)
	cmd := exec.Command(bin)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe as nobody: %v\n%s", err, stderr.String())
	}
	var f Features
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("probe as nobody printed %q: %v", out, err)
	}
	if f.EUID != 65534 {
		t.Fatalf("EUID = %d, want 65534", f.EUID)
	}
	for _, ns := range f.Namespaces {
		if ns.Type != "user" && !strings.HasPrefix(ns.Call, "clone(CLONE_NEWUSER|") {
			t.Errorf("as nobody, %s was not tried inside a user namespace", ns.Call)
		}
		// This kernel lets nobody create user namespaces (TestRunLive
		// checks that as root), so every namespace must work.
		if !ns.OK {
			t.Errorf("as nobody: %s", ns.Outcome)
		}
	}
	if !f.UserNS.Unprivileged.OK || f.UserNS.UnprivilegedUID != 65534 {
		t.Errorf("as nobody: %s (uid %d)", f.UserNS.Unprivileged, f.UserNS.UnprivilegedUID)
	}
	for _, o := range []Outcome{f.Overlay, f.IDMapped} {
		if o.Skipped == "" || o.OK {
			t.Errorf("as nobody: %s, want it not tried", o)
		}
	}
	for _, o := range []Outcome{f.Seccomp, f.Pidfd} {
		if !o.OK {
			t.Errorf("as nobody: %s", o)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
