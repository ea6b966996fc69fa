package main

import "testing"

func TestVerbOf(t *testing.T) {
	root := newRootCommand(nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--version"}, ""},
		{[]string{"create", "--bundle", "b", "id"}, "create"},
		{[]string{"--root", "/r", "create", "id"}, "create"},
		{[]string{"--root=/r", "--debug", "start", "id"}, "start"},
		{[]string{"--debug", "--log", "/l", "--log-format", "json", "delete", "id"}, "delete"},
		{[]string{"--systemd-cgroup", "run", "id"}, "run"},
		{[]string{"--root", "/r", "container", "ls"}, "container"},
		{[]string{"-h", "vm"}, "vm"},
		{[]string{"--", "create"}, ""},
	} {
		if got := verbOf(root, tc.args); got != tc.want {
			t.Errorf("verbOf(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// A runc verb gets a tree of runc's verbs only; anything else, the whole
// tree (help, completion and "unknown command" see every family).
func TestRootCommandFamilies(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		wantContainer bool
	}{
		{[]string{"--root", "/r", "create", "id"}, false},
		{[]string{"ls"}, false},
		{[]string{"container", "ls"}, true},
		{[]string{"help"}, true},
		{[]string{"nosuch"}, true},
		{nil, true},
	} {
		root := newRootCommand(tc.args)
		if got := hasCommand(root, "container"); got != tc.wantContainer {
			t.Errorf("newRootCommand(%q) has \"container\" = %v, want %v", tc.args, got, tc.wantContainer)
		}
		for _, verb := range []string{"create", "start", "delete", "exec"} {
			if !hasCommand(root, verb) {
				t.Errorf("newRootCommand(%q) lacks %q", tc.args, verb)
			}
		}
	}
}
