package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func TestChainIDs(t *testing.T) {
	a, b := Digest([]byte("a")), Digest([]byte("b"))
	got := ChainIDs([]string{a, b})
	if got[0] != a || got[1] != Digest([]byte(a+" "+b)) {
		t.Errorf("ChainIDs(%q, %q) = %q", a, b, got)
	}
}

func TestBlobs(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(`{"hello":"hull"}`)
	if err := s.PutBlob(Digest([]byte("other")), b); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("PutBlob with a wrong digest = %v, want ErrDigestMismatch", err)
	}
	if ents, _ := os.ReadDir(s.dir("blobs/sha256")); len(ents) != 0 {
		t.Fatalf("a rejected blob left %d files", len(ents))
	}
	if err := s.PutBlob(Digest(b), b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Blob(Digest(b)); err != nil || string(got) != string(b) {
		t.Fatalf("Blob = %q, %v", got, err)
	}
	if _, err := s.Blob(Digest([]byte("x"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Blob(missing) = %v, want ErrNotFound", err)
	}
}

// TestCreateLayerOnce runs concurrent creators of one layer: exactly one
// fills it, the others find it there.
func TestCreateLayerOnce(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := Digest([]byte("layer"))
	var fills, created atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ok, err := s.CreateLayer(context.Background(), LayerInfo{ChainID: id, DiffID: id}, func(ctx context.Context, dir string) (int64, error) {
				fills.Add(1)
				return 1, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
			})
			if err != nil {
				t.Error(err)
			}
			if ok {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	if fills.Load() != 1 || created.Load() != 1 {
		t.Errorf("fill ran %d times, created reported %d times; want 1 and 1", fills.Load(), created.Load())
	}
	dir, _ := s.LayerDir(id)
	if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "x" {
		t.Errorf("layer content = %q, %v", b, err)
	}
}

func TestCreateLayerFailureLeavesNothing(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := Digest([]byte("layer"))
	boom := errors.New("network down")
	_, err = s.CreateLayer(context.Background(), LayerInfo{ChainID: id}, func(ctx context.Context, dir string) (int64, error) {
		os.WriteFile(filepath.Join(dir, "half"), []byte("x"), 0o644)
		return 0, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("CreateLayer = %v, want %v", err, boom)
	}
	for _, d := range []string{"layers", "tmp"} {
		if ents, _ := os.ReadDir(s.dir(d)); len(ents) != 0 {
			t.Errorf("%s/ has %d entries after a failed layer", d, len(ents))
		}
	}
	if s.HasLayer(id) {
		t.Error("HasLayer after a failed fill")
	}
}

func TestImagesTagRemovePrune(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, man := []byte(`{"config":1}`), []byte(`{"manifest":1}`)
	for _, b := range [][]byte{cfg, man, []byte("orphan blob")} {
		if err := s.PutBlob(Digest(b), b); err != nil {
			t.Fatal(err)
		}
	}
	diffs := []string{Digest([]byte("l0")), Digest([]byte("l1"))}
	chains := ChainIDs(diffs)
	var layers []Layer
	for i, c := range append(chains, Digest([]byte("orphan layer"))) {
		if _, err := s.CreateLayer(ctx, LayerInfo{ChainID: c}, func(context.Context, string) (int64, error) { return 0, nil }); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			layers = append(layers, Layer{Descriptor: Descriptor{Digest: diffs[i], Size: 10}, DiffID: diffs[i], ChainID: c})
		}
	}
	os.MkdirAll(s.dir("tmp", "layer-interrupted", "diff"), 0o755) // a crash's litter
	im := Image{Digest: Digest(man), Config: Descriptor{Digest: Digest(cfg)}, Layers: layers}
	if err := s.PutImage(ctx, im, "index.docker.io/library/busybox:latest"); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"busybox", "index.docker.io/library/busybox:latest", Digest(man), Digest(man)[7:19]} {
		got, err := s.Lookup(ref)
		if err != nil || got.Digest != im.Digest {
			t.Errorf("Lookup(%q) = %v, %v", ref, got.Digest, err)
		}
	}
	if dirs, err := s.LayerDirs(im); err != nil || len(dirs) != 2 || filepath.Base(dirs[1]) != "diff" {
		t.Errorf("LayerDirs = %v, %v", dirs, err)
	}
	if err := s.Tag(ctx, "busybox", "example.com/bb:v1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Lookup("example.com/bb:v1"); len(got.Names) != 2 {
		t.Errorf("names after tag = %v, want 2", got.Names)
	}
	rep, err := s.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 1 || len(rep.Blobs) != 1 || rep.Temp != 1 {
		t.Errorf("Prune = %+v, want the orphan layer, the orphan blob and the litter", rep)
	}
	if _, err := s.Remove(ctx, "busybox"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(Digest(man)); err != nil {
		t.Errorf("the image went with its first of two names: %v", err)
	}
	if _, err := s.Remove(ctx, "example.com/bb:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(Digest(man)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup after the last name went = %v, want ErrNotFound", err)
	}
	if rep, err = s.Prune(ctx); err != nil || len(rep.Layers) != 2 || len(rep.Blobs) != 2 {
		t.Errorf("Prune = %+v, %v; want both layers and both blobs", rep, err)
	}
}

func TestDiscard(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := Digest([]byte("layer"))
	empty := func(context.Context, string) (int64, error) { return 0, nil }
	if _, err := s.CreateLayer(ctx, LayerInfo{ChainID: id}, empty); err != nil {
		t.Fatal(err)
	}
	release, err := s.Hold(ctx) // another pull is running
	if err != nil {
		t.Fatal(err)
	}
	if ran, err := s.Discard([]string{id}); ran || err != nil || !s.HasLayer(id) {
		t.Errorf("Discard during another pull = %v, %v, layer kept %v; want it to leave the layer", ran, err, s.HasLayer(id))
	}
	release()
	if ran, err := s.Discard([]string{id}); !ran || err != nil || s.HasLayer(id) {
		t.Errorf("Discard = %v, %v, layer kept %v; want it removed", ran, err, s.HasLayer(id))
	}
}

// A layer directory without its layer.json (left by a crash in the middle
// of a removal) is not a layer, and does not stop the layer being created.
func TestCreateLayerOverLitter(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := Digest([]byte("layer"))
	h, _ := hexOf(id)
	os.MkdirAll(s.dir("layers", h, "diff", "half-deleted"), 0o755)
	if s.HasLayer(id) {
		t.Fatal("HasLayer of a directory without layer.json")
	}
	created, err := s.CreateLayer(context.Background(), LayerInfo{ChainID: id}, func(_ context.Context, dir string) (int64, error) {
		return 0, os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
	})
	if err != nil || !created {
		t.Fatalf("CreateLayer over litter = %v, %v", created, err)
	}
	dir, _ := s.LayerDir(id)
	if _, err := os.Stat(filepath.Join(dir, "half-deleted")); !os.IsNotExist(err) {
		t.Errorf("the litter survived: %v", err)
	}
}
