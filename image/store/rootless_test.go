package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hullrt/hull/image/internal/asuser"
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
	asuser.Run(t, "TestRootlessPruneHelper", rootlessEnv, asuser.Dir(t), asuser.Credential())
}
