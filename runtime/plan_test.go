package runtime

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the plan (run go test -update after checking):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

func fullSpec() *specs.Spec {
	s := DefaultSpec(false)
	adj := 100
	umask := uint32(0o027)
	timeout := 5
	s.Process.Terminal = false
	s.Process.OOMScoreAdj = &adj
	s.Process.User = specs.User{UID: 1000, GID: 1000, Umask: &umask, AdditionalGids: []uint32{10, 20}}
	s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NPROC", Soft: 100, Hard: 200})
	s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4}
	s.Domainname = "example.org"
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro", "nosuid", "rprivate"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "nodev", "size=1m"}},
		specs.Mount{Destination: "/mnt/r", Type: "bind", Source: "relative/dir", Options: []string{"rbind", "rro", "rnosuid"}},
	)
	s.Linux.Namespaces = append(s.Linux.Namespaces,
		specs.LinuxNamespace{Type: specs.CgroupNamespace},
		specs.LinuxNamespace{Type: specs.TimeNamespace},
		specs.LinuxNamespace{Type: specs.UserNamespace})
	for i, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			s.Linux.Namespaces[i].Path = "/run/netns/test"
		}
	}
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 3600}}
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000000"}
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
	s.Linux.RootfsPropagation = "rprivate"
	s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX32"}
	s.Linux.CgroupsPath = "/hull/full"
	s.Hooks = &specs.Hooks{
		CreateRuntime:   []specs.Hook{{Path: "/usr/bin/hook", Args: []string{"hook", "createRuntime"}, Timeout: &timeout}},
		CreateContainer: []specs.Hook{{Path: "/usr/bin/hook", Args: []string{"hook", "createContainer"}}},
		StartContainer:  []specs.Hook{{Path: "/bin/true"}},
	}
	return s
}

// hostMountSpec is the default spec without a mount namespace, and so
// without the masked and read-only paths that would need one.
func hostMountSpec() *specs.Spec {
	s := DefaultSpec(false)
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
		return n.Type == specs.MountNamespace
	})
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	return s
}

func TestPlanGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec func() *specs.Spec
		opts PlanOptions
	}{
		{"default.plan", func() *specs.Spec { return DefaultSpec(false) }, PlanOptions{ID: "c1", Bundle: "/b"}},
		{"rootless.plan", func() *specs.Spec {
			s := DefaultSpec(false)
			makeRootless(s, 1000, 1000)
			return s
		}, PlanOptions{ID: "c2", Bundle: "/b", NoNewKeyring: true}},
		{"full.plan", fullSpec, PlanOptions{ID: "c3", Bundle: "/b", NoPivot: true, PreserveFDs: 2}},
		// The host's mount namespace: no "/" propagation, a private
		// rootfs bind, chroot even with --no-pivot.
		{"hostmnt.plan", hostMountSpec, PlanOptions{ID: "c4", Bundle: "/b", NoPivot: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPlan(tc.spec(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, p.String())

			// The init receives the plan as JSON: it must come back equal.
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var back Plan
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			back.Hooks, back.Resources = p.Hooks, p.Resources
			if back.String() != p.String() {
				t.Errorf("plan changed through JSON:\n%s\nvs\n%s", back.String(), p.String())
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	s := DefaultSpec(false)
	s.Version = "2.0.0"
	s.Process.Cwd = "relative"
	s.Process.Env = append(s.Process.Env, "NOEQUALS")
	s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_BOGUS"}, specs.POSIXRlimit{Type: "RLIMIT_CORE", Soft: 2, Hard: 1})
	s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FLY")
	s.Process.ApparmorProfile = "unconfined"
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "rel", Type: "tmpfs"}, specs.Mount{Destination: "/x", Options: []string{"bind"}})
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"}, specs.LinuxNamespace{Type: "pid"})
	s.Linux.Sysctl = map[string]string{"kernel.panic": "1"}
	s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "proc/x")
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}
	s.Linux.RootfsPropagation = "sideways"
	s.Linux.IntelRdt = &specs.LinuxIntelRdt{}
	err := Validate(s)
	if err == nil {
		t.Fatal("Validate accepted a broken spec")
	}
	for _, want := range []string{
		`ociVersion: "2.0.0" is not a 1.x version`,
		`process.cwd: "relative" is not an absolute path`,
		`process.env[2]: "NOEQUALS" is not NAME=value`,
		`process.rlimits[1].type: unknown rlimit "RLIMIT_BOGUS"`,
		`process.rlimits[2]: soft limit 2 exceeds hard limit 1`,
		`process.capabilities.bounding[3]: unknown capability "CAP_FLY"`,
		`process.apparmorProfile: AppArmor is not supported`,
		`mounts[7].destination: "rel" is not an absolute path`,
		`mounts[8].source: is required for a bind mount`,
		`linux.namespaces[5].type: unknown namespace "foo"`,
		`linux.namespaces[6].type: namespace "pid" is given twice`,
		`linux.sysctl.kernel.panic: is not namespaced`,
		`linux.maskedPaths[10]: "proc/x" is not an absolute path`,
		`linux.devices[0].type: unknown device type "z"`,
		`linux.rootfsPropagation: unknown propagation "sideways"`,
		`linux.intelRdt: Intel RDT is not supported`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate's error lacks %q; it is:\n%v", want, err)
		}
	}
}

// TestValidateHostMountNamespace: what would change the host's own mounts
// is refused without a mount namespace of the container's own, each
// problem named by its field.
func TestValidateHostMountNamespace(t *testing.T) {
	if err := Validate(hostMountSpec()); err != nil {
		t.Fatalf("Validate(no mount namespace) = %v, want nil", err)
	}
	s := hostMountSpec()
	s.Linux.MaskedPaths = []string{"/proc/kcore"}
	s.Linux.ReadonlyPaths = []string{"/proc/sys"}
	s.Linux.RootfsPropagation = "rshared"
	err := Validate(s)
	for _, field := range []string{"linux.maskedPaths", "linux.readonlyPaths", "linux.rootfsPropagation"} {
		want := field + ": needs a mount namespace of the container's own"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(no mount namespace, %s set) = %v, want an error containing %q", field, err, want)
		}
	}
	// A mount namespace joined by path is one of the container's own.
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/proc/1/ns/mnt"})
	if err := Validate(s); err != nil {
		t.Errorf("Validate(joined mount namespace, masks set) = %v, want nil", err)
	}
}

func TestParseSpecAcceptsUnknownFields(t *testing.T) {
	s, err := ParseSpec([]byte(`{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/","newField":1},"root":{"path":"rootfs"},"futureTopLevel":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Process.Args[0] != "sh" {
		t.Errorf("args = %q", s.Process.Args)
	}
	if _, err := ParseSpec([]byte(`{"ociVersion":"1.0.2","process":{"args":"sh"}}`)); err == nil || !strings.Contains(err.Error(), "process.args") {
		t.Errorf("ParseSpec of a string args = %v, want an error naming process.args", err)
	}
}

func TestMountOptions(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want string
	}{
		{[]string{"nosuid", "noexec", "nodev", "ro"}, `MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC data=""`},
		{[]string{"rbind", "rw", "mode=755", "size=1k"}, `MS_BIND|MS_REC data="mode=755,size=1k"`},
		{[]string{"ro", "rw"}, `0 data=""`},
		{[]string{"strictatime", "relatime", "norelatime"}, `MS_STRICTATIME data=""`},
	} {
		if got := parseMountOptions(tc.opts).String(); got != tc.want {
			t.Errorf("parseMountOptions(%q) = %s, want %s", tc.opts, got, tc.want)
		}
	}
}
