package cgroups

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestNewPaths places cgroupsPath on each kind of host (pure: New touches
// nothing).
func TestNewPaths(t *testing.T) {
	for _, tt := range []struct {
		host, path string
		want       map[string]string // relative to the fixture root
		top        string            // v2: where enabling starts
	}{
		{host: "unified", path: "ctr",
			want: map[string]string{"": "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/app-podman.scope/ctr"},
			top:  "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/app-podman.scope"},
		{host: "unified", path: "/libpod_parent/libpod-abc",
			want: map[string]string{"": "/sys/fs/cgroup/libpod_parent/libpod-abc"}, top: "/sys/fs/cgroup"},
		{host: "nested", path: "/system.slice/docker-4f1c.scope/inner",
			want: map[string]string{"": "/sys/fs/cgroup/inner"}, top: "/sys/fs/cgroup"},
		{host: "hybrid", path: "hull/abc", want: map[string]string{
			"":             "/sys/fs/cgroup/unified/hull/abc",
			"memory":       "/sys/fs/cgroup/memory/process_api/7dcea9684de294963daf3e1bdcf44c04/hull/abc",
			"cpu":          "/sys/fs/cgroup/cpu/hull/abc",
			"name=systemd": "/sys/fs/cgroup/systemd/hull/abc",
		}},
		{host: "legacy", path: "/default/abc", want: map[string]string{
			"cpu":     "/sys/fs/cgroup/cpu,cpuacct/default/abc",
			"cpuacct": "/sys/fs/cgroup/cpu,cpuacct/default/abc",
			"net_cls": "/sys/fs/cgroup/net_cls,net_prio/default/abc",
		}},
		{host: "legacy", path: "abc", want: map[string]string{
			"memory":  "/sys/fs/cgroup/memory/user.slice/abc",
			"cpuset":  "/sys/fs/cgroup/cpuset/abc",
			"devices": "/sys/fs/cgroup/devices/user.slice/abc",
		}},
	} {
		root := filepath.Join("testdata", "hosts", tt.host)
		m, err := New(fixtureHost(t, tt.host), Config{Path: tt.path})
		if err != nil {
			t.Errorf("%s: New(%q): %v", tt.host, tt.path, err)
			continue
		}
		paths := m.Paths()
		for c, want := range tt.want {
			if got := paths[c]; got != filepath.Join(root, want) {
				t.Errorf("%s: New(%q).Paths()[%q] = %q, want %q", tt.host, tt.path, c, got, filepath.Join(root, want))
			}
		}
		if v, ok := m.(*v2); ok && v.top != filepath.Join(root, tt.top) {
			t.Errorf("%s: New(%q): controllers enabled from %q, want %q", tt.host, tt.path, v.top, filepath.Join(root, tt.top))
		}
	}
}

func TestNewErrors(t *testing.T) {
	unified := fixtureHost(t, "unified")
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Path: "/x", Systemd: true}, "the systemd cgroup driver is not supported yet: drop --systemd-cgroup"},
		{Config{Path: "system.slice:hull:abc"}, "looks like systemd's slice:prefix:name"},
		{Config{Path: "a/../../b"}, `".." is not allowed`},
		{Config{}, "linux.cgroupsPath: empty"},
		{Config{Path: "/"}, "the container needs a cgroup of its own"},
	} {
		_, err := New(unified, tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := New(unified, Config{Path: "x", Systemd: true}); !errors.Is(err, ErrSystemd) {
		t.Errorf("New with Systemd: %v, want ErrSystemd", err)
	}
	// A bind-mounted container cgroup cannot reach outside itself.
	if _, err := New(fixtureHost(t, "nested"), Config{Path: "/other"}); err == nil || !strings.Contains(err.Error(), "outside what") {
		t.Errorf("New outside the mount: %v", err)
	}
}

// TestPlanBeforeCreate: hull create --explain plans before the cgroup
// exists; a swap limit must not be refused for want of files to probe.
func TestPlanBeforeCreate(t *testing.T) {
	for _, host := range []string{"unified", "legacy"} {
		m, err := New(fixtureHost(t, host), Config{Path: "explain"})
		if err != nil {
			t.Fatal(err)
		}
		limit, swap := int64(1<<30), int64(2<<30)
		r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap}}
		p, err := m.Plan(r)
		if host == "legacy" {
			// The fixture has no memory.memsw files: swap accounting is
			// off, and the plan says so.
			if err == nil || !strings.Contains(err.Error(), "swap accounting") {
				t.Errorf("%s: Plan = %v", host, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: Plan: %v", host, err)
		}
		if !strings.Contains(p.String(), "memory.swap.max") {
			t.Errorf("%s: plan without memory.swap.max:\n%s", host, p)
		}
	}
}
