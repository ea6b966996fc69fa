package rootfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/integration/testvm"
)

// requireRoot: mounting overlayfs needs root.
func requireRoot(t *testing.T) { t.Helper(); testvm.Require(t, testvm.Root) }

// unpackLayers applies each entry list to its own directory, as the store does.
func unpackLayers(t *testing.T, parent string, layers [][]registrytest.Entry) []string {
	t.Helper()
	var dirs []string
	for i, es := range layers {
		d := filepath.Join(parent, fmt.Sprintf("layer-with-a-long-name-like-a-store-path-%03d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := layer.Apply(context.Background(), d, bytes.NewReader(registrytest.Tar(t, es...))); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

func mounted(t *testing.T, target string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+target+" ")
}

// TestOverlayEqualsCopy mounts the layers with overlayfs and merges them
// with the copy fallback: the kernel's view and ours must agree, file by
// file.
func TestOverlayEqualsCopy(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	layers := unpackLayers(t, tmp, registrytest.Layered(t))
	upper, work, merged, copied := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "merged"), filepath.Join(tmp, "copied")
	for _, d := range []string{upper, work, merged, copied} {
		os.Mkdir(d, 0o755)
	}
	m, err := Overlay(layers, upper, work)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(m)
	if err := m.Mount(merged); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if mounted(t, merged) {
			Unmount(merged)
		}
	}()
	if err := Copy(context.Background(), copied, layers); err != nil {
		t.Fatal(err)
	}
	view, cp := registrytest.Tree(t, merged), registrytest.Tree(t, copied)
	delete(view, ".")
	delete(cp, ".")
	if diff := registrytest.DiffTrees(view, cp); len(diff) > 0 {
		t.Errorf("overlay view and copy differ:\n%s", strings.Join(diff, "\n"))
	}
	for name, want := range map[string]string{"etc/motd": "back again\n", "usr/share/doc/c": "c"} {
		if b, err := os.ReadFile(filepath.Join(merged, name)); string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	for _, gone := range []string{"usr/share/doc/a", "opt/old"} {
		if _, err := os.Lstat(filepath.Join(merged, gone)); !os.IsNotExist(err) {
			t.Errorf("%s survived its whiteout: %v", gone, err)
		}
	}
	// Writes land in upper.
	if err := os.WriteFile(filepath.Join(merged, "etc/new"), []byte("w"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(upper, "etc/new")); err != nil {
		t.Errorf("a write to the merged view is not in upper: %v", err)
	}
	if err := Unmount(merged); err != nil {
		t.Fatal(err)
	}
	if mounted(t, merged) {
		t.Error("still mounted after Unmount")
	}
}

// TestManyLayers mounts more layers than fit in one page of mount options,
// both through fsconfig lowerdir+ and through short symlinked names.
func TestManyLayers(t *testing.T) {
	requireRoot(t)
	const n = 120
	var layers [][]registrytest.Entry
	for i := range n {
		layers = append(layers, []registrytest.Entry{
			registrytest.File(fmt.Sprintf("f%03d", i), 0o644, "x"),
			registrytest.File("top", 0o644, fmt.Sprint(i)),
		})
	}
	tmp := t.TempDir()
	dirs := unpackLayers(t, tmp, layers)
	m, err := Overlay(dirs, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.Join(m.Options, ",")) < os.Getpagesize() {
		t.Fatalf("the test's options fit in a page: it proves nothing")
	}
	for _, tc := range []struct {
		name  string
		mount func(Mount, string) error
	}{
		{"auto", Mount.Mount},
		{"fsconfig-lowerdir+", mountFsconfig},
		{"short-names", mountShortNames},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := t.TempDir()
			err := tc.mount(m, target)
			if errors.Is(err, errNoLowerdirPlus) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer Unmount(target)
			ents, _ := os.ReadDir(target)
			if len(ents) != n+1 {
				t.Errorf("merged view has %d entries, want %d", len(ents), n+1)
			}
			if b, _ := os.ReadFile(filepath.Join(target, "top")); string(b) != fmt.Sprint(n-1) {
				t.Errorf("top = %q, want the last layer's %d", b, n-1)
			}
			if err := os.WriteFile(filepath.Join(target, "w"), nil, 0o644); err == nil {
				t.Error("a mount without upper is writable")
			}
		})
	}
	if ents, _ := filepath.Glob(filepath.Join(os.TempDir(), "hull-ovl-*")); len(ents) != 0 {
		t.Errorf("symlink directories left behind: %v", ents)
	}
}

func TestOverlayMountString(t *testing.T) {
	m, err := Overlay([]string{"/l/0", "/l/1"}, "/c/upper", "/c/work")
	if err != nil {
		t.Fatal(err)
	}
	want := "mount -t overlay overlay -o lowerdir=/l/1:/l/0,upperdir=/c/upper,workdir=/c/work TARGET"
	if m.String() != want {
		t.Errorf("Overlay(...).String() = %q, want %q", m.String(), want)
	}
	if _, err := Overlay([]string{"/a:b"}, "", ""); err == nil {
		t.Error("Overlay accepted a path with ':'")
	}
}
