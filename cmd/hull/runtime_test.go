package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// TestRuncVerbs drives the hull binary as podman and containerd drive
// runc, and checks the outputs and exit codes they parse.
func TestRuncVerbs(t *testing.T) {
	testvm.Require(t, testvm.Root)
	hull := testvm.Hull(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "state")
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	busyboxRootfs(t, rootfs, "sh", "sleep", "cat", "echo", "true")

	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(hull, append([]string{"--root", root}, args...)...)
		cmd.Dir = bundle
		// Files, not pipes: a created container's init keeps the stdio
		// of "hull create", and a pipe would stay open until it exits.
		outF, _ := os.CreateTemp(dir, "stdout")
		errF, _ := os.CreateTemp(dir, "stderr")
		defer outF.Close()
		defer errF.Close()
		cmd.Stdout, cmd.Stderr = outF, errF
		err := cmd.Run()
		var out, errb bytes.Buffer
		ob, _ := os.ReadFile(outF.Name())
		eb, _ := os.ReadFile(errF.Name())
		out.Write(ob)
		errb.Write(eb)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	must := func(args ...string) string {
		t.Helper()
		out, errs, code := run(args...)
		if code != 0 {
			t.Fatalf("hull %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}

	t.Cleanup(func() {
		for _, id := range []string{"c1", "r1"} {
			exec.Command(hull, "--root", root, "delete", "--force", id).Run()
		}
	})

	// spec writes runc's default, and refuses to overwrite it.
	must("spec", "--bundle", bundle)
	if _, errs, code := run("spec", "--bundle", bundle); code != 1 || !strings.Contains(errs, "config.json exists") {
		t.Errorf("a second spec: exit %d, %q", code, errs)
	}
	var s specs.Spec
	b, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err := json.Unmarshal(b, &s); err != nil || s.Process.Args[0] != "sh" || !s.Root.Readonly {
		t.Fatalf("spec wrote %s (%v)", b, err)
	}
	s.Process.Terminal = false
	s.Process.Args = []string{"sleep", "1000"}
	s.Linux.CgroupsPath = fmt.Sprintf("hull-cli-test-%d", os.Getpid())
	b, _ = json.Marshal(&s)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)

	pidFile := filepath.Join(dir, "pid")
	must("create", "--pid-file", pidFile, "c1")
	var st map[string]any
	if err := json.Unmarshal([]byte(must("state", "c1")), &st); err != nil || st["status"] != "created" || st["id"] != "c1" {
		t.Errorf("state after create: %v (%v)", st, err)
	}
	pid, _ := os.ReadFile(pidFile)
	if fmt.Sprint(st["pid"]) != string(pid) {
		t.Errorf("state pid %v, pid file %q", st["pid"], pid)
	}
	must("start", "c1")
	if out := must("list"); !strings.HasPrefix(out, "ID          PID         STATUS      BUNDLE") || !strings.Contains(out, "running") {
		t.Errorf("list:\n%s", out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(must("list", "--format", "json")), &list); err != nil || len(list) != 1 || list[0]["status"] != "running" {
		t.Errorf("list --format json: %v (%v)", list, err)
	}
	if out := must("list", "-q"); out != "c1\n" {
		t.Errorf("list -q = %q", out)
	}
	var pids []int
	if err := json.Unmarshal([]byte(must("ps", "--format", "json", "c1")), &pids); err != nil || len(pids) != 1 || fmt.Sprint(pids[0]) != string(pid) {
		t.Errorf("ps --format json = %v (%v)", pids, err)
	}
	if _, _, code := run("exec", "c1", "sh", "-c", "exit 5"); code != 5 {
		t.Errorf("exec of exit 5 returned %d", code)
	}
	must("pause", "c1")
	if err := json.Unmarshal([]byte(must("state", "c1")), &st); err != nil || st["status"] != "paused" {
		t.Errorf("state after pause: %v", st)
	}
	must("resume", "c1")
	if _, errs, code := run("delete", "c1"); code != 1 || !strings.Contains(errs, "level=error") || !strings.Contains(errs, "that is not stopped: running") {
		t.Errorf("delete of a running container: exit %d, %q", code, errs)
	}
	must("kill", "c1", "KILL")
	// kill returns once the signal is sent, as runc's does; the init dies
	// (and its pid namespace with it) a moment later. delete refuses a
	// container that is still running, so wait for "stopped" first, as
	// containerd's shim waits for the exit before it deletes.
	for i := 0; ; i++ {
		if err := json.Unmarshal([]byte(must("state", "c1")), &st); err == nil && st["status"] == "stopped" {
			break
		}
		if i == 500 {
			t.Fatalf("state after kill KILL never became stopped: %v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	must("delete", "c1")

	// A missing container: runc's messages and exit codes, and the JSON
	// log podman reads.
	logFile := filepath.Join(dir, "log.json")
	if _, errs, code := run("--log", logFile, "--log-format", "json", "state", "c1"); code != 1 || !strings.Contains(errs, "container c1 does not exist") {
		t.Errorf("state of a missing container: exit %d, %q", code, errs)
	}
	var entry map[string]string
	lb, _ := os.ReadFile(logFile)
	if err := json.Unmarshal(lb, &entry); err != nil || entry["level"] != "error" || entry["msg"] != "container c1 does not exist" {
		t.Errorf("--log-format json wrote %q (%v)", lb, err)
	}
	if _, _, code := run("delete", "--force", "c1"); code != 0 {
		t.Errorf("delete --force of a missing container: exit %d, want 0 as runc", code)
	}
	if _, _, code := run("kill", "c1", "NOSUCHSIG"); code != 1 {
		t.Errorf("kill with a bad signal: exit %d", code)
	}

	// run returns the program's exit status and cleans up.
	s.Process.Args = []string{"sh", "-c", "echo out; exit 3"}
	b, _ = json.Marshal(&s)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
	if out, errs, code := run("run", "r1"); code != 3 || out != "out\n" {
		t.Errorf("run: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out := must("list", "-q"); out != "" {
		t.Errorf("containers left after run: %q", out)
	}
	if out := must("create", "--explain", "e1"); !strings.Contains(out, "pivot_root") || !strings.Contains(out, "clone(CLONE_NEWNS") {
		t.Errorf("create --explain:\n%s", out)
	}
	var f features.Features
	if err := json.Unmarshal([]byte(must("features")), &f); err != nil || f.Linux == nil || len(f.Linux.Namespaces) != 8 {
		t.Errorf("features: %+v (%v)", f, err)
	}
}

// busyboxRootfs makes a minimal rootfs: bin, proc, sys, dev and tmp, with
// /bin/busybox copied from the host and each name in links a symlink to
// it in /bin.
func busyboxRootfs(t *testing.T, rootfs string, links ...string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("busybox is not installed (apt-get install busybox-static)")
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", l)); err != nil {
			t.Fatal(err)
		}
	}
}
