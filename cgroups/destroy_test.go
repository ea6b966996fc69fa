package cgroups

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testDestroyParents: Create records the parents it makes; Destroy waits
// for the container's last process to exit on its own (it does not kill),
// removes the cgroup, and then the parents that are empty, leaving one
// that holds another container's cgroup. A later Manager (hull delete in
// another process) removes the rest when given the parents as
// Config.CreatedParents; entries outside the container's ancestry are
// refused.
func testDestroyParents(t *testing.T, h *Host, v2 bool) {
	name := fmt.Sprintf("hulltest-parents-%x", rand.Uint32())
	var tops []string // the test's top directory in each hierarchy
	t.Cleanup(func() {
		for _, d := range tops {
			if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("cgroup %s left behind", d)
				removeTree(d)
			}
		}
	})
	m, err := New(h, Config{Path: name + "/a/b/ctr"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	own := map[string]bool{}
	for _, d := range m.Paths() {
		own[d] = true
		tops = append(tops, filepath.Dir(filepath.Dir(filepath.Dir(d))))
	}
	created := m.Created()
	if len(created) != 3*len(own) {
		t.Errorf("Created() = %q, want 3 parents for each of %d directories", created, len(own))
	}
	for d := range own {
		for p := filepath.Dir(d); p != filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(d)))); p = filepath.Dir(p) {
			if !slices.Contains(created, p) {
				t.Errorf("Created() = %q lacks %s", created, p)
			}
		}
	}
	// Another container in a/: a/ must stay while it is there.
	other, err := New(h, Config{Path: name + "/a/other"})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Create(); err != nil {
		t.Fatal(err)
	}
	if got := other.Created(); len(got) != 0 {
		t.Errorf("other.Created() = %q; its parents existed", got)
	}

	p := start(t, m, v2, "exec sleep 1")
	eventually(t, "the sleep", func() bool { pids, _ := m.Pids(); return len(pids) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Errorf("the sleep did not end on its own: %v", err)
	}
	for d := range own {
		for _, gone := range []string{d, filepath.Dir(d)} {
			if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s not removed (%v)", gone, err)
			}
		}
		if _, err := os.Stat(filepath.Dir(filepath.Dir(d))); err != nil {
			t.Errorf("a/, which holds another container's cgroup, was removed: %v", err)
		}
	}

	// hull delete of the other container, in "another process": a new
	// Manager learns the parents from the runtime's state.
	var ancestors []string
	for _, c := range created {
		for _, d := range other.Paths() {
			if strings.HasPrefix(d, c+"/") {
				ancestors = append(ancestors, c)
				break
			}
		}
	}
	if _, err := New(h, Config{Path: name + "/a/other", CreatedParents: created}); err == nil || !strings.Contains(err.Error(), "CreatedParents") {
		t.Errorf("New with a parent that is not an ancestor (a/b): %v", err)
	}
	self := h.SelfDir("")
	if !v2 {
		self = h.SelfDir("memory")
	}
	for _, bad := range []string{self, filepath.Dir(self), "/tmp"} {
		if _, err := New(h, Config{Path: name + "/a/other", CreatedParents: []string{bad}}); err == nil {
			t.Errorf("New accepts %s, not below the caller's own cgroup, as a parent to remove", bad)
		}
	}
	again, err := New(h, Config{Path: name + "/a/other", CreatedParents: ancestors})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range tops {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s not removed (%v)", d, err)
		}
	}
	if _, err := os.Stat(self); err != nil {
		t.Errorf("the caller's own cgroup: %v", err)
	}
}

func TestV1DestroyParents(t *testing.T)     { testDestroyParents(t, hostV1(t), false) }
func TestV2CoreDestroyParents(t *testing.T) { testDestroyParents(t, hostV2Core(t), true) }
func TestV2DestroyParents(t *testing.T)     { testDestroyParents(t, hostV2(t), true) }

// TestWaitEmptyGone: waiting on a cgroup that is not there returns at once.
func TestWaitEmptyGone(t *testing.T) {
	if err := waitEmpty(context.Background(), filepath.Join(t.TempDir(), "none")); err != nil {
		t.Fatal(err)
	}
}
