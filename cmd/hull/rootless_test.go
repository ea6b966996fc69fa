package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRootless runs "hull spec --rootless" and "hull run" as an
// unprivileged user (nobody): the container sees itself as root of its
// user namespace and still cannot write a host file owned by root.
func TestRootless(t *testing.T) {
	testvm.Require(t, testvm.Root)
	const nobody = 65534
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	// A copy nobody may execute.
	bin, err := os.ReadFile(testvm.Hull(t))
	if err != nil {
		t.Fatal(err)
	}
	hull := filepath.Join(dir, "hull")
	if err := os.WriteFile(hull, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "host"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("busybox is not installed (apt-get install busybox-static)")
	}
	os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755)
	for _, a := range []string{"sh", "id", "cat", "echo"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	// A host directory with a file only root may write.
	hostDir := filepath.Join(dir, "hostdir")
	os.Mkdir(hostDir, 0o755)
	secret := filepath.Join(hostDir, "owned-by-root")
	os.WriteFile(secret, []byte("root's\n"), 0o644)
	runDir := filepath.Join(dir, "xdg")
	os.Mkdir(runDir, 0o700)
	if err := filepath.Walk(bundle, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nobody, nobody) }); err != nil {
		t.Fatal(err)
	}
	os.Chown(runDir, nobody, nobody)

	asNobody := func(args ...string) (string, error) {
		cmd := exec.Command(hull, args...)
		cmd.Dir = bundle
		cmd.Env = []string{"XDG_RUNTIME_DIR=" + runDir, "PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out) + stderr.String(), err
		}
		return string(out), nil
	}
	if out, err := asNobody("spec", "--rootless"); err != nil {
		t.Fatalf("spec --rootless: %v: %s", err, out)
	}
	var s specs.Spec
	b, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "id -u; cat /proc/self/uid_map; echo x >> /host/owned-by-root && echo wrote || echo denied"}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/host", Type: "bind", Source: hostDir, Options: []string{"rbind"}})
	b, _ = json.Marshal(&s)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)

	out, err := asNobody("run", "rootless")
	if err != nil {
		t.Fatalf("run as nobody: %v: %s", err, out)
	}
	if f := strings.Fields(out); len(f) != 5 || f[0] != "0" || f[1] != "0" || f[2] != "65534" || f[3] != "1" || f[4] != "denied" {
		t.Errorf("rootless container printed %q: want uid 0, the map 0 65534 1, and denied", out)
	}
	if b, _ := os.ReadFile(secret); string(b) != "root's\n" {
		t.Errorf("the root-owned host file changed: %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Join(runDir, "hull")); len(ents) != 0 {
		t.Errorf("state left in $XDG_RUNTIME_DIR/hull: %v", ents)
	}
}
