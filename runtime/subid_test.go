package runtime

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRootlessParseSubIDs(t *testing.T) {
	const file = `alice:100000:65536
1000:200000:10
# shadow has no comments: this line is skipped as malformed
bob:165536:65536
broken
carol:x:1
dave:1:0
eve:4294967295:2
mallory:4294967290:5
trent:4294967291:5
  frank:5:5  
`
	got, err := ParseSubIDs(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []IDRange{
		{Owner: "alice", Start: 100000, Count: 65536},
		{Owner: "1000", Start: 200000, Count: 10},
		{Owner: "bob", Start: 165536, Count: 65536},
		{Owner: "mallory", Start: 4294967290, Count: 5}, // the last id is 2^32-2
		{Owner: "frank", Start: 5, Count: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSubIDs = %v, want %v", got, want)
	}
}

func TestRootlessSubIDCheck(t *testing.T) {
	alice := SubIDUser{Name: "alice", UID: 1000}
	ranges := []IDRange{
		{Owner: "alice", Start: 100000, Count: 65536},
		{Owner: "1000", Start: 165536, Count: 100}, // by uid, adjacent to alice's first
		{Owner: "bob", Start: 300000, Count: 65536},
	}
	m := func(pairs ...uint32) []specs.LinuxIDMapping {
		var out []specs.LinuxIDMapping
		for i := 0; i < len(pairs); i += 3 {
			out = append(out, specs.LinuxIDMapping{ContainerID: pairs[i], HostID: pairs[i+1], Size: pairs[i+2]})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		ranges []IDRange
		maps   []specs.LinuxIDMapping
		want   string // "" for no error
	}{
		{"own id alone", nil, m(0, 1000, 1), ""},
		{"own id twice as large", ranges, m(0, 1000, 2), "newuidmap: linux.uidMappings[0] maps host uids 1000-1001, outside the ranges /etc/subuid gives user alice (uid 1000): 100000-165535, 165536-165635"},
		{"podman's map", ranges, m(0, 1000, 1, 1, 100000, 65536), ""},
		{"across two adjacent ranges, by name then by uid", ranges, m(0, 1000, 1, 1, 100000, 65636), ""},
		{"one past the end", ranges, m(0, 1000, 1, 1, 100000, 65637), "newuidmap: linux.uidMappings[1] maps host uids 100000-165636, outside"},
		{"inside, not from the start", ranges, m(0, 100500, 10), ""},
		{"another user's range", ranges, m(0, 1000, 1, 1, 300000, 10), "newuidmap: linux.uidMappings[1] maps host uids 300000-300009, outside"},
		{"no range at all", ranges[2:], m(0, 1000, 1, 1, 300000, 10), "newuidmap: /etc/subuid has no range for user alice (uid 1000) (linux.uidMappings[1] maps host uids 300000-300009)"},
		{"size 0", ranges, m(0, 100000, 0), "maps host uids 100000 (size 0)"},
		{"each bad line reported", ranges[2:], m(0, 1, 1, 1, 2, 1), "(linux.uidMappings[0] maps host uids 1)\nnewuidmap: /etc/subuid has no range for user alice (uid 1000) (linux.uidMappings[1] maps host uids 2)"},
	} {
		c := subIDCheck{Field: "linux.uidMappings", Helper: "newuidmap", File: "/etc/subuid", Kind: "uid", Own: 1000, Maps: tc.maps, Ranges: tc.ranges}
		err := c.check(alice)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: check(%v) = %v, want nil", tc.name, tc.maps, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: check(%v) = %v, want an error with %q", tc.name, tc.maps, err, tc.want)
		}
	}
}

func TestRootlessSubIDMappings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		own    uint32
		ranges []IDRange
		want   []specs.LinuxIDMapping
	}{
		{"none", 1000, nil, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}},
		{"one range", 1000, []IDRange{{Start: 100000, Count: 65536}},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}},
		{"two ranges, in file order", 1000, []IDRange{{Start: 300000, Count: 10}, {Start: 100000, Count: 5}},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 300000, Size: 10}, {ContainerID: 11, HostID: 100000, Size: 5}}},
		{"a range holding the caller's own id is left out", 1000, []IDRange{{Start: 900, Count: 200}, {Start: 100000, Count: 5}},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 5}}},
		{"overlapping lines map once", 1000, []IDRange{{Start: 100000, Count: 10}, {Start: 100005, Count: 10}},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 10}}},
	} {
		if got := subIDMappings(tc.own, tc.ranges); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: subIDMappings(%d, %v) = %v, want %v", tc.name, tc.own, tc.ranges, got, tc.want)
		}
	}
}
