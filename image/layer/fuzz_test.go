package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzApply feeds arbitrary tar streams to the unpacker, in both modes and
// on top of an earlier layer that planted symlinks pointing outside. Whatever
// the stream, nothing outside the layer directory may change. The seed
// corpus runs as a normal test; "go test -fuzz FuzzApply ./image/layer"
// explores further.
func FuzzApply(f *testing.F) {
	seeds := [][]e{
		{dir("a/"), file("a/b", "x"), symlink("a/c", "b"), hardlink("a/d", "a/b")},
		{file("../x", "y")},
		{symlink("up", "../outside"), file("up/victim", "pwned")},
		{symlink("abs", "/"), file("abs/tmp/x", "y")},
		{hardlink("h", "up/victim")},
		{file("planted/.wh.victim", ""), file("planted/.wh..wh..opq", "")},
		{dir("d/"), file("d/.wh..wh..opq", ""), file("d/.wh.e", ""), file(".wh..wh.plnk", "")},
		{{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "planted/fifo", Mode: 0o600}}},
	}
	for _, s := range seeds {
		f.Add(mktar(f, s...), false)
		f.Add(mktar(f, s...), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, flatten bool) {
		sandbox := t.TempDir()
		layerDir := filepath.Join(sandbox, "layer")
		outside := filepath.Join(sandbox, "outside")
		os.Mkdir(layerDir, 0o755)
		os.Mkdir(outside, 0o755)
		os.WriteFile(filepath.Join(outside, "victim"), []byte("original"), 0o644)
		// An earlier layer that planted escape routes.
		base := mktar(t, symlink("planted", outside), symlink("rel", "../outside"))
		mode := Overlay
		if flatten {
			mode = Flatten
		}
		if _, err := Apply(context.Background(), layerDir, bytes.NewReader(base), WithMode(mode), WithoutOwnership()); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, outside)
		Apply(context.Background(), layerDir, bytes.NewReader(data), WithMode(mode), WithoutOwnership())
		if after := snapshot(t, outside); !reflect.DeepEqual(before, after) {
			t.Fatalf("the layer changed the host side:\nbefore %v\nafter  %v", before, after)
		}
		if entries, _ := os.ReadDir(sandbox); len(entries) != 2 {
			t.Fatalf("the layer created %d entries beside the layer directory", len(entries)-2)
		}
	})
}
