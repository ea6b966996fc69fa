package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCreateKilledMidway SIGKILLs "hull create" while the container is
// half made (its createRuntime hook running) and checks that the init
// goes away by itself and that "hull delete --force" removes what is left:
// state directory and cgroup.
func TestCreateKilledMidway(t *testing.T) {
	testvm.Require(t, testvm.Root)
	hull := testvm.Hull(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "state")
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	busyboxRootfs(t, rootfs, "true")
	marker := filepath.Join(dir, "hook.pid")
	hook := filepath.Join(dir, "hook.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\necho $$ > "+marker+".tmp; mv "+marker+".tmp "+marker+"\nexec sleep 100\n"), 0o755)

	s := runtimeDefaultSpec()
	s.Process.Terminal = false
	s.Process.Args = []string{"true"}
	cg := fmt.Sprintf("hull-killed-test-%d", os.Getpid())
	s.Linux.CgroupsPath = cg
	s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: hook}}}
	b, _ := json.Marshal(s)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)

	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	create := exec.Command(hull, "--root", root, "create", "--bundle", bundle, "k1")
	create.Stdin, create.Stdout, create.Stderr = devnull, devnull, devnull
	if err := create.Start(); err != nil {
		t.Fatal(err)
	}
	var hookPid int
	for i := 0; i < 1000 && hookPid == 0; i++ {
		if b, err := os.ReadFile(marker); err == nil {
			hookPid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if hookPid == 0 {
		create.Process.Kill()
		create.Wait()
		t.Fatal("the createRuntime hook never ran")
	}
	defer syscall.Kill(hookPid, syscall.SIGKILL)
	var st struct {
		Pid    int    `json:"pid"`
		Status string `json:"status"`
	}
	out, err := exec.Command(hull, "--root", root, "state", "k1").Output()
	if err != nil || json.Unmarshal(out, &st) != nil || st.Status != "creating" || st.Pid == 0 {
		t.Errorf("state while create runs: %s (%v)", out, err)
	}
	create.Process.Kill()
	create.Wait()

	// The init notices that its parent is gone and exits.
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", st.Pid)); err != nil {
			break
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.Pid)); strings.Contains(string(b), ") Z ") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, _ = exec.Command(hull, "--root", root, "state", "k1").Output()
	if json.Unmarshal(out, &st) != nil || st.Status != "stopped" {
		t.Errorf("state after create was killed: %s", out)
	}
	if out, err := exec.Command(hull, "--root", root, "delete", "--force", "k1").CombinedOutput(); err != nil {
		t.Errorf("delete --force: %v: %s", err, out)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("state left: %v", ents)
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/*/" + cg); len(m) != 0 {
		t.Errorf("cgroups left: %v", m)
	}
}

func runtimeDefaultSpec() *specs.Spec { return runtime.DefaultSpec(false) }
