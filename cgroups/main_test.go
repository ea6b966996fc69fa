package cgroups

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain checks, after every test of the package has run, that no test
// or benchmark cgroup ("hulltest-*", "hullbench-*") appeared for good
// below this process's own cgroup in any hierarchy: each test asserts its
// own cleanup, this catches one that forgot to.
func TestMain(m *testing.M) {
	before := testCgroups()
	code := m.Run()
	for d := range testCgroups() {
		if !before[d] {
			fmt.Fprintf(os.Stderr, "cgroup %s left behind by the tests or benchmarks\n", d)
			code = 1
		}
	}
	os.Exit(code)
}

func testCgroups() map[string]bool {
	out := map[string]bool{}
	h, err := DetectHost("/")
	if err != nil {
		return out
	}
	dirs := []string{h.SelfDir("")}
	for c := range h.V1 {
		dirs = append(dirs, h.SelfDir(c))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() && (strings.HasPrefix(e.Name(), "hulltest-") || strings.HasPrefix(e.Name(), "hullbench-")) {
				out[d+"/"+e.Name()] = true
			}
		}
	}
	return out
}
