package probe

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

func TestParseSubIDs(t *testing.T) {
	const file = `# comment
alice:100000:65536
1000:300000:65536
bob:165536:65536
alice:500000:1000
`
	for _, tc := range []struct {
		names []string
		want  []IDRange
	}{
		{[]string{"alice", "1000"}, []IDRange{{100000, 65536}, {300000, 65536}, {500000, 1000}}},
		{[]string{"bob"}, []IDRange{{165536, 65536}}},
		{[]string{"carol", "1002"}, nil},
	} {
		got, err := parseSubIDs(strings.NewReader(file), "/etc/subuid", tc.names)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseSubIDs(%q) = %v, %v, want %v", tc.names, got, err, tc.want)
		}
	}
	_, err := parseSubIDs(strings.NewReader("alice:1\n"), "/etc/subuid", []string{"alice"})
	if err == nil || !strings.Contains(err.Error(), "/etc/subuid:1") {
		t.Errorf("parseSubIDs(malformed) = %v, want an error naming /etc/subuid:1", err)
	}
}

func TestParseKernelVersion(t *testing.T) {
	for _, tc := range []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.1.0-18-amd64", 6, 1, true},
		{"6.18.44-fc-v769", 6, 18, true},
		{"5.15.0-1019-azure", 5, 15, true},
		{"4.19", 4, 19, true},
		{"5.4-rc1", 5, 4, true},
		{"garbage", 0, 0, false},
	} {
		major, minor, ok := ParseKernelVersion(tc.in)
		if major != tc.major || minor != tc.minor || ok != tc.ok {
			t.Errorf("ParseKernelVersion(%q) = %d, %d, %v, want %d, %d, %v", tc.in, major, minor, ok, tc.major, tc.minor, tc.ok)
		}
	}
}

// TestCloneFailureNamesErrno asks the kernel for an impossible clone:
// CLONE_NEWUSER with CLONE_FS is refused with EINVAL, and the outcome must
// say so by name rather than pass it off as the ENOENT of success.
func TestCloneFailureNamesErrno(t *testing.T) {
	testvm.Require(t, testvm.Root)
	o := tryExecFails("clone(CLONE_NEWUSER|CLONE_FS)", unix.CLONE_NEWUSER|unix.CLONE_FS, false)
	if o.OK || o.Errno != "EINVAL" {
		t.Errorf("tryExecFails(CLONE_NEWUSER|CLONE_FS) = %+v, want a failure with EINVAL", o)
	}
	if !strings.Contains(o.String(), "clone") {
		t.Errorf("String() = %q, want it to name clone", o.String())
	}
}

// TestExecFallback proves a namespace the way Run does when ptrace is
// forbidden: the child is cloned, then its execve fails with ENOENT.
func TestExecFallback(t *testing.T) {
	testvm.Require(t, testvm.Root)
	o := tryExecFails("clone(CLONE_NEWNET)", unix.CLONE_NEWNET, false)
	if !o.OK {
		t.Errorf("tryExecFails(CLONE_NEWNET) = %s", o)
	}
}

// TestInvokingUser: under sudo the subordinate ids of the user who ran
// sudo matter, not root's.
func TestInvokingUser(t *testing.T) {
	t.Setenv("SUDO_USER", "alice")
	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{nil, "alice"},
		{[]Option{WithUser("bob")}, "bob"},
	} {
		o, err := makeOptions(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if o.user != tc.want {
			t.Errorf("makeOptions(%d options) with SUDO_USER=alice: user %q, want %q", len(tc.opts), o.user, tc.want)
		}
	}
	if _, err := makeOptions([]Option{WithUnprivilegedUID(0)}); err == nil {
		t.Error("WithUnprivilegedUID(0) accepted uid 0")
	}
}
