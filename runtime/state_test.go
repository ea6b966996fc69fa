package runtime

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCheckID: hull takes the ids runc takes, ^[\w+\-.]+$ up to 1,024
// bytes, without "." and "..".
func TestCheckID(t *testing.T) {
	runc := regexp.MustCompile(`^[\w+\-.]+$`)
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"a", true},
		{"web-1.example_v2+x", true},
		{"ABC019", true},
		{"", false},
		{".", false},
		{"..", false},
		{"...", true},
		{"a/b", false},
		{"a b", false},
		{"é", false},
		{"a\x00", false},
		{strings.Repeat("x", 1024), true},
		{strings.Repeat("x", 1025), false},
	} {
		err := checkID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("checkID(%q) = %v, want ok %v", tc.id, err, tc.ok)
		}
		if want := runc.MatchString(tc.id) && tc.id != "." && tc.id != ".." && len(tc.id) <= 1024; want != tc.ok {
			t.Errorf("table: %q ok %v, runc's expression says %v", tc.id, tc.ok, want)
		}
	}
}

// TestRecordReadBack: a record written by create and read back by a later
// command gives the same hooks, version, cgroup path and namespaces
// without the whole spec decoded, and the whole spec on demand.
func TestRecordReadBack(t *testing.T) {
	timeout := 5
	s := DefaultSpec(false)
	s.Linux.CgroupsPath = "/a/b"
	s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Args: []string{"true", "x"}, Timeout: &timeout}}}
	noLinux := DefaultSpec(false)
	noLinux.Linux = nil
	for _, tc := range []struct {
		name string
		spec *specs.Spec
	}{
		{"default", DefaultSpec(false)},
		{"hooks and cgroupsPath", s},
		{"no linux section", noLinux},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &lockedDir{path: t.TempDir()}
			want := &record{ID: "c1", Pid: 42, Phase: phaseCreated, Spec: tc.spec, CgroupParents: []string{"/x"}}
			if err := d.write(want); err != nil {
				t.Fatal(err)
			}
			got, err := d.read()
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec != nil {
				t.Errorf("read decoded the whole spec")
			}
			if got.ID != want.ID || got.Pid != want.Pid || got.Phase != want.Phase || !reflect.DeepEqual(got.CgroupParents, want.CgroupParents) {
				t.Errorf("read = %+v, want %+v", got, want)
			}
			// What the commands after create read: the hooks, ociVersion
			// and the linux section's cgroupsPath and namespaces (and
			// whether there is one).
			if g, w := got.view(), want.view(); !reflect.DeepEqual(g, w) {
				t.Errorf("view() = %+v, want %+v", g, w)
			}
			if g, w := got.cgroupsPath(), want.cgroupsPath(); g != w {
				t.Errorf("cgroupsPath() = %q, want %q", g, w)
			}
			full, err := got.spec()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(full, tc.spec) {
				t.Errorf("spec() = %+v, want %+v", full, tc.spec)
			}
		})
	}
}
