package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
)

func TestVerbOf(t *testing.T) {
	root := newRootCommand(nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--version"}, ""},
		{[]string{"create", "--bundle", "b", "id"}, "create"},
		{[]string{"--root", "/r", "create", "id"}, "create"},
		{[]string{"--root=/r", "--debug", "start", "id"}, "start"},
		{[]string{"--debug", "--log", "/l", "--log-format", "json", "delete", "id"}, "delete"},
		{[]string{"--systemd-cgroup", "run", "id"}, "run"},
		{[]string{"--root", "/r", "container", "ls"}, "container"},
		{[]string{"-h", "vm"}, "vm"},
		{[]string{"--", "create"}, ""},
	} {
		if got := verbOf(root, tc.args); got != tc.want {
			t.Errorf("verbOf(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// A runc verb gets a tree of runc's verbs only; anything else, the whole
// tree (help, completion and "unknown command" see every family).
func TestRootCommandFamilies(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		wantContainer bool
	}{
		{[]string{"--root", "/r", "create", "id"}, false},
		{[]string{"ls"}, false},
		{[]string{"container", "ls"}, true},
		{[]string{"help"}, true},
		{[]string{"nosuch"}, true},
		{nil, true},
	} {
		root := newRootCommand(tc.args)
		if got := hasCommand(root, "container"); got != tc.wantContainer {
			t.Errorf("newRootCommand(%q) has \"container\" = %v, want %v", tc.args, got, tc.wantContainer)
		}
		for _, verb := range []string{"create", "start", "delete", "exec"} {
			if !hasCommand(root, verb) {
				t.Errorf("newRootCommand(%q) lacks %q", tc.args, verb)
			}
		}
	}
}

// The image-level families run in hull-engine, next to hull: hull
// executes it with its own arguments, help included, and says so when it
// is missing.
func TestEngineFamilies(t *testing.T) {
	hull := testvm.CopyHull(t, t.TempDir())
	for _, args := range [][]string{{"help", "image"}, {"image", "--help"}, {"--root", t.TempDir(), "ctr", "--help"}} {
		out, err := exec.Command(hull, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hull container run") && !strings.Contains(string(out), "image pulls OCI and Docker images") {
			t.Errorf("hull %q: %v, output:\n%s\nwant hull-engine's help", args, err, out)
		}
	}

	alone := filepath.Join(t.TempDir(), "hull")
	b, err := os.ReadFile(hull)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"image", "ls"}, {"help", "image"}} {
		out, err := exec.Command(alone, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "execve "+filepath.Join(filepath.Dir(alone), "hull-engine")+": no such file or directory") {
			t.Errorf("hull %q without hull-engine: %v, output %q; want exit 1 naming the missing program", args, err, out)
		}
	}
}
