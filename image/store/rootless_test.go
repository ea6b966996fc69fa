package store

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
)

const rootlessEnv = "HULL_STORE_ROOTLESS_DIR"

// TestRootlessPruneHelper runs as uid 65534: a layer holding a read-only
// directory must still be pruned.
func TestRootlessPruneHelper(t *testing.T) {
	root := os.Getenv(rootlessEnv)
	if root == "" {
		t.Skip("run by TestRootlessPrune")
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	id := Digest([]byte("layer"))
	_, err = s.CreateLayer(context.Background(), LayerInfo{ChainID: id}, func(_ context.Context, dir string) (int64, error) {
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(ro, "f"), nil, 0o644); err != nil {
			return 0, err
		}
		return 0, os.Chmod(ro, 0o555)
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Prune(context.Background())
	if err != nil || len(rep.Layers) != 1 || s.HasLayer(id) {
		t.Fatalf("Prune = %+v, %v; layer still there: %v", rep, err, s.HasLayer(id))
	}
}

func TestRootlessPrune(t *testing.T) {
	testvm.Require(t, testvm.Root) // to become uid 65534
	sandbox := t.TempDir()
	for _, d := range []string{filepath.Dir(sandbox), sandbox} {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(sandbox, "store.test")
	self, _ := os.Open("/proc/self/exe")
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(out, self)
	self.Close()
	out.Close()
	root := filepath.Join(sandbox, "store")
	os.Mkdir(root, 0o755)
	os.Chown(root, 65534, 65534)
	cmd := exec.Command(bin, "-test.run=^TestRootlessPruneHelper$", "-test.v")
	cmd.Env = append(os.Environ(), rootlessEnv+"="+root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "--- PASS: TestRootlessPruneHelper") {
		t.Fatalf("unprivileged prune: %v\n%s", err, b)
	}
}
