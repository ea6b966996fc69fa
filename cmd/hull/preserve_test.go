package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/runtime"
)

// TestPreserveAndListenFDs: "run --preserve-fds 1" with LISTEN_FDS=1 hands
// the caller's fds 3 and 4 to the program, which is told LISTEN_FDS=1.
func TestPreserveAndListenFDs(t *testing.T) {
	testvm.Require(t, testvm.Root)
	hull := testvm.Hull(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	busyboxRootfs(t, rootfs, "sh")
	s := runtime.DefaultSpec(false)
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "echo listen >&3; echo preserved >&4; echo LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID; ls /proc/self/fd"}
	s.Linux.CgroupsPath = fmt.Sprintf("hull-fds-test-%d", os.Getpid())
	b, _ := json.Marshal(s)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)

	f3, _ := os.Create(filepath.Join(dir, "fd3"))
	f4, _ := os.Create(filepath.Join(dir, "fd4"))
	out, _ := os.Create(filepath.Join(dir, "out"))
	defer f3.Close()
	defer f4.Close()
	defer out.Close()
	cmd := exec.Command(hull, "--root", filepath.Join(dir, "state"), "run", "--preserve-fds", "1", "--bundle", bundle, "fds")
	cmd.ExtraFiles = []*os.File{f3, f4}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		o, _ := os.ReadFile(out.Name())
		t.Fatalf("run: %v: %s", err, o)
	}
	got3, _ := os.ReadFile(f3.Name())
	got4, _ := os.ReadFile(f4.Name())
	o, _ := os.ReadFile(out.Name())
	if string(got3) != "listen\n" || string(got4) != "preserved\n" || !strings.Contains(string(o), "LISTEN_FDS=1 LISTEN_PID=1") {
		t.Errorf("fd 3 got %q, fd 4 got %q, output %q", got3, got4, o)
	}
	// Nothing of hull's own reaches the program: stdio, 3, 4 and the fd
	// ls opens for /proc/self/fd.
	if fds := strings.Fields(string(o)); len(fds) > 0 && fds[len(fds)-1] != "5" {
		t.Errorf("the program sees fds %q, want 0-4 and ls's own 5", fds)
	}
}
