// Package asuser runs part of a test as another user: the test binary
// copies itself where that user can execute it and runs one of its own
// tests there, with the SysProcAttr the caller gives (a Credential, or a
// user namespace). Rootless tests use it to prove what an unprivileged
// unpack, mount or prune does.
package asuser

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Nobody is the unprivileged user the tests become.
const Nobody = 65534

// Dir returns a fresh directory owned by Nobody, reachable by it.
func Dir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(d, Nobody, Nobody); err != nil {
		t.Fatal(err)
	}
	return d
}

// Run runs test (a test function of this binary that reads its input from
// the environment variable env, set to value) under attr, and fails t
// unless it passes.
func Run(t testing.TB, test, env, value string, attr *syscall.SysProcAttr) {
	t.Helper()
	dir := Dir(t)
	bin := filepath.Join(dir, "self.test")
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(out, self)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+value)
	cmd.SysProcAttr = attr
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "--- PASS: "+test) {
		t.Fatalf("%s as another user: %v\n%s", test, err, b)
	}
}

// Credential runs as Nobody, with no capabilities.
func Credential() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
}

// UserNamespace runs as root of a new user and mount namespace that maps
// only Nobody, as rootless podman's processes do.
func UserNamespace() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: Nobody, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: Nobody, Size: 1}},
		// Become the namespace's root (Nobody outside): without this the
		// child keeps the parent's credentials.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
	}
}
