package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestDetectHost(t *testing.T) {
	fixture := func(name string) string { return filepath.Join("testdata", "hosts", name) }
	tests := []struct {
		name string
		want Host
		// selfDirs: controller → SelfDir relative to the fixture root.
		selfDirs map[string]string
	}{{
		// This development machine: v1 controllers, cgroup2 at
		// /sys/fs/cgroup/unified with only hugetlb, our memory cgroup
		// below /process_api.
		name: "hybrid",
		want: Host{
			Mode:    Hybrid,
			Unified: "/sys/fs/cgroup/unified",
			V1: map[string]string{
				"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct", "cpuset": "/sys/fs/cgroup/cpuset",
				"memory": "/sys/fs/cgroup/memory", "devices": "/sys/fs/cgroup/devices", "freezer": "/sys/fs/cgroup/freezer",
				"blkio": "/sys/fs/cgroup/blkio", "pids": "/sys/fs/cgroup/pids", "name=systemd": "/sys/fs/cgroup/systemd",
			},
			Controllers: []string{"hugetlb"},
			Self:        "/",
			SelfV1: map[string]string{
				"name=systemd": "/", "pids": "/", "blkio": "/", "freezer": "/", "devices": "/",
				"memory": "/process_api/7dcea9684de294963daf3e1bdcf44c04", "cpuset": "/", "cpuacct": "/", "cpu": "/",
			},
			Delegated: []string{"hugetlb"},
		},
		selfDirs: map[string]string{
			"":       "/sys/fs/cgroup/unified",
			"memory": "/sys/fs/cgroup/memory/process_api/7dcea9684de294963daf3e1bdcf44c04",
			"cpu":    "/sys/fs/cgroup/cpu",
			"rdma":   "",
		},
	}, {
		// A systemd machine: one cgroup2 hierarchy, the caller in a user
		// scope to which systemd delegated cpu, memory and pids.
		name: "unified",
		want: Host{
			Mode:        Unified,
			Unified:     "/sys/fs/cgroup",
			V1:          map[string]string{},
			Controllers: []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"},
			Self:        "/user.slice/user-1000.slice/user@1000.service/app.slice/app-podman.scope",
			SelfV1:      map[string]string{},
			Delegated:   []string{"cpu", "memory", "pids"},
		},
		selfDirs: map[string]string{
			"":       "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/app-podman.scope",
			"memory": "",
		},
	}, {
		// An old systemd machine with v1 only: co-mounted cpu,cpuacct and
		// net_cls,net_prio, and no cgroup2 at all.
		name: "legacy",
		want: Host{
			Mode: Legacy,
			V1: map[string]string{
				"name=systemd": "/sys/fs/cgroup/systemd",
				"net_cls":      "/sys/fs/cgroup/net_cls,net_prio", "net_prio": "/sys/fs/cgroup/net_cls,net_prio",
				"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
				"memory": "/sys/fs/cgroup/memory", "blkio": "/sys/fs/cgroup/blkio", "devices": "/sys/fs/cgroup/devices",
				"freezer": "/sys/fs/cgroup/freezer", "cpuset": "/sys/fs/cgroup/cpuset", "hugetlb": "/sys/fs/cgroup/hugetlb",
				"pids": "/sys/fs/cgroup/pids", "perf_event": "/sys/fs/cgroup/perf_event", "rdma": "/sys/fs/cgroup/rdma",
			},
			SelfV1: map[string]string{
				"perf_event": "/", "pids": "/user.slice", "hugetlb": "/", "cpuset": "/", "freezer": "/",
				"devices": "/user.slice", "blkio": "/user.slice", "memory": "/user.slice", "cpuacct": "/user.slice",
				"cpu": "/user.slice", "net_prio": "/", "net_cls": "/", "rdma": "/",
				"name=systemd": "/user.slice/user-1000.slice/session-1.scope",
			},
		},
		selfDirs: map[string]string{
			"":        "",
			"cpu":     "/sys/fs/cgroup/cpu,cpuacct/user.slice",
			"net_cls": "/sys/fs/cgroup/net_cls,net_prio",
		},
	}, {
		// Inside a container that shares the host's cgroup namespace and
		// got its own cgroup bind-mounted at /sys/fs/cgroup: the mount
		// root is the container's cgroup, so our cgroup is the mount point.
		name: "nested",
		want: Host{
			Mode:        Unified,
			Unified:     "/sys/fs/cgroup",
			V1:          map[string]string{},
			Controllers: []string{"cpu", "io", "memory", "pids"},
			Self:        "/system.slice/docker-4f1c.scope",
			SelfV1:      map[string]string{},
			Delegated:   []string{"cpu", "io", "memory", "pids"},
		},
		selfDirs: map[string]string{"": "/sys/fs/cgroup"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fixture(tt.name)
			got, err := DetectHost(root)
			if err != nil {
				t.Fatalf("DetectHost(%q): %v", root, err)
			}
			want := tt.want
			if want.Unified != "" {
				want.Unified = filepath.Join(root, want.Unified)
			}
			v1 := map[string]string{}
			for c, mp := range want.V1 {
				v1[c] = filepath.Join(root, mp)
			}
			want.V1 = v1
			want.MountRoot = got.MountRoot // checked through SelfDir below
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("DetectHost(%q) =\n%+v\nwant\n%+v", root, *got, want)
			}
			for c, dir := range tt.selfDirs {
				if dir != "" {
					dir = filepath.Join(root, dir)
				}
				if got := got.SelfDir(c); got != dir {
					t.Errorf("SelfDir(%q) = %q, want %q", c, got, dir)
				}
			}
			if got, want := got.Mode.String(), tt.name; tt.name != "nested" && got != want {
				t.Errorf("Mode.String() = %q, want %q", got, want)
			}
		})
	}
}

func TestDetectHostErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := DetectHost(dir); err == nil {
		t.Errorf("DetectHost(%q) with no proc: no error", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "proc/self"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, mountinfo string }{
		{"no cgroup mount", "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"},
		{"malformed", "26 1 254:0 / rw,relatime ext4 /dev/vda rw\n"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "proc/self/mountinfo"), []byte(tt.mountinfo), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := DetectHost(dir); err == nil {
			t.Errorf("%s: DetectHost: no error", tt.name)
		} else {
			t.Logf("%s: %v", tt.name, err)
		}
	}
}

// TestDetectHostLive reads the machine the test runs on: whatever its mode,
// the cgroup directories it names for this process exist.
func TestDetectHostLive(t *testing.T) {
	h, err := DetectHost("/")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mode %s, unified %q, controllers %v, delegated %v, v1 %v", h.Mode, h.Unified, h.Controllers, h.Delegated, h.V1Names())
	if h.Unified != "" {
		if _, err := os.Stat(filepath.Join(h.SelfDir(""), "cgroup.procs")); err != nil {
			t.Errorf("own cgroup2 directory: %v", err)
		}
	}
	for _, c := range h.V1Names() {
		if _, err := os.Stat(filepath.Join(h.SelfDir(c), "cgroup.procs")); err != nil {
			t.Errorf("own %s cgroup: %v", c, err)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`: "/a b", `/plain`: "/plain", `/tab\011`: "/tab\t", `/back\134slash`: `/back\slash`, `/short\04`: `/short\04`,
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
