package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/integration/testvm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The rootless tests run hull as an unprivileged user that exists only
// for them. Each hull command runs in a private mount namespace where an
// overlay on /etc adds the user to /etc/passwd and /etc/group and
// brings the test's own /etc/subuid and /etc/subgid, so that hull and the
// setuid newuidmap/newgidmap read exactly what the test wrote while the
// host's files stay as they are:
//
//	unshare --mount --propagation private
//	  mount -t overlay -o lowerdir=/etc,upperdir=<test>,workdir=... /etc
//	  setpriv --reuid=<uid> --regid=<uid> --clear-groups hull ...
//
// The uid is the test process's own, so that two runs of these tests at
// once (two developers on one machine) never count each other's
// processes.
var rootlessUID = 20000 + os.Getpid()%20000

const rootlessUser = "hullrootless"

// rootlessHost is one test's unprivileged user: its /etc files, its
// $XDG_RUNTIME_DIR, a copy of hull it may execute and a busybox bundle
// it owns.
type rootlessHost struct {
	t                   *testing.T
	dir, hull, bundle   string
	etc, runDir, hostRO string // hostRO: a directory of root's files
	gid                 int    // the real gid hull runs with
}

func newRootlessHost(t *testing.T, subuid, subgid string) *rootlessHost {
	t.Helper()
	testvm.Require(t, testvm.Root)
	for _, tool := range []string{"unshare", "setpriv", "newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian packages util-linux, uidmap)", tool)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("busybox is not installed (apt-get install busybox-static)")
	}
	h := &rootlessHost{t: t, dir: t.TempDir(), gid: rootlessUID}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(h.dir, 0o755))
	must(os.Chmod(filepath.Dir(h.dir), 0o755))

	// /etc as the user's commands see it.
	h.etc = filepath.Join(h.dir, "etc")
	must(os.Mkdir(h.etc, 0o755))
	for _, f := range []struct{ name, line string }{
		{"passwd", fmt.Sprintf("%s:x:%d:%d::/nonexistent:/usr/sbin/nologin", rootlessUser, rootlessUID, rootlessUID)},
		{"group", fmt.Sprintf("%s:x:%d:", rootlessUser, rootlessUID)},
	} {
		b, err := os.ReadFile("/etc/" + f.name)
		must(err)
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if !strings.Contains(l, fmt.Sprintf(":%d:", rootlessUID)) && !strings.HasPrefix(l, rootlessUser+":") {
				lines = append(lines, l)
			}
		}
		lines = append(lines, f.line)
		must(os.WriteFile(filepath.Join(h.etc, f.name), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	}
	must(os.WriteFile(filepath.Join(h.etc, "subuid"), []byte(subuid), 0o644))
	must(os.WriteFile(filepath.Join(h.etc, "subgid"), []byte(subgid), 0o644))

	h.hull = testvm.CopyHull(t, h.dir)

	h.bundle = filepath.Join(h.dir, "bundle")
	rootfs := filepath.Join(h.bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "host", "out"} {
		must(os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755))
	for _, a := range []string{"sh", "id", "cat", "echo", "touch"} {
		must(os.Symlink("busybox", filepath.Join(rootfs, "bin", a)))
	}
	h.runDir = filepath.Join(h.dir, "xdg")
	must(os.Mkdir(h.runDir, 0o700))
	must(filepath.Walk(h.bundle, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, rootlessUID, rootlessUID) }))
	must(os.Chown(h.runDir, rootlessUID, rootlessUID))

	// A host directory with a file only root may write.
	h.hostRO = filepath.Join(h.dir, "hostdir")
	must(os.Mkdir(h.hostRO, 0o755))
	must(os.WriteFile(filepath.Join(h.hostRO, "owned-by-root"), []byte("root's\n"), 0o644))
	return h
}

// run runs hull as the user, in the bundle, and returns its stdout, or
// its stdout and stderr with the error. Both go to files, not pipes: a
// container that hull create leaves behind holds its stdio open.
func (h *rootlessHost) run(args ...string) (string, error) {
	h.t.Helper()
	work, err := os.MkdirTemp(h.dir, "overlay-work")
	if err != nil {
		h.t.Fatal(err)
	}
	defer os.RemoveAll(work)
	stdout, err := os.CreateTemp(h.dir, "stdout")
	if err != nil {
		h.t.Fatal(err)
	}
	defer os.Remove(stdout.Name())
	defer stdout.Close()
	stderr, err := os.CreateTemp(h.dir, "stderr")
	if err != nil {
		h.t.Fatal(err)
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	script := `mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 125
shift 2
exec setpriv --reuid=` + fmt.Sprint(rootlessUID) + ` --regid=` + fmt.Sprint(h.gid) + ` --clear-groups -- "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", h.etc, work, h.hull}, args...)...)
	cmd.Dir = h.bundle
	cmd.Env = []string{"XDG_RUNTIME_DIR=" + h.runDir, "HOME=" + h.dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	out, _ := os.ReadFile(stdout.Name())
	if err != nil {
		msg, _ := os.ReadFile(stderr.Name())
		return string(out) + string(msg), err
	}
	return string(out), nil
}

// spec runs "hull spec --rootless" and returns the config it wrote.
func (h *rootlessHost) spec() *specs.Spec {
	h.t.Helper()
	os.Remove(filepath.Join(h.bundle, "config.json"))
	if out, err := h.run("spec", "--rootless"); err != nil {
		h.t.Fatalf("spec --rootless: %v: %s", err, out)
	}
	var s specs.Spec
	b, err := os.ReadFile(filepath.Join(h.bundle, "config.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		h.t.Fatal(err)
	}
	return &s
}

// write saves the config with the program args and root's directory
// bind-mounted at /host (and, when out is set, out at /out).
func (h *rootlessHost) write(s *specs.Spec, out string, args ...string) {
	h.t.Helper()
	s.Process.Terminal = false
	s.Process.Args = args
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/host", Type: "bind", Source: h.hostRO, Options: []string{"rbind"}})
	if out != "" {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"rbind"}})
	}
	b, err := json.Marshal(s)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.bundle, "config.json"), b, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// clean checks that nothing of a container is left: no state under
// $XDG_RUNTIME_DIR/hull, no process of the user, and root's file as it
// was.
func (h *rootlessHost) clean() {
	h.t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(h.runDir, "hull")); len(ents) != 0 {
		h.t.Errorf("state left in $XDG_RUNTIME_DIR/hull: %v", ents)
	}
	if pids := processesOf(rootlessUID); len(pids) != 0 {
		h.t.Errorf("processes of uid %d left: %v", rootlessUID, pids)
	}
	if b, _ := os.ReadFile(filepath.Join(h.hostRO, "owned-by-root")); string(b) != "root's\n" {
		h.t.Errorf("the root-owned host file changed: %q", b)
	}
}

// processesOf lists the live pids whose real uid is uid (a zombie that
// its new parent has not reaped yet is gone already).
func processesOf(uid int) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		mine, zombie := false, false
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) > 1 && f[0] == "Uid:":
				mine = f[1] == fmt.Sprint(uid)
			case len(f) > 1 && f[0] == "State:":
				zombie = f[1] == "Z"
			}
		}
		if mine && !zombie {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

const rootlessProbe = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; echo x >> /host/owned-by-root && echo wrote || echo denied"

// TestRootlessSingleID: a user without subordinate ids gets runc's
// single-id config from "spec --rootless"; the container sees itself
// as root of its user namespace, mapped to the user, and cannot write a
// host file owned by root.
func TestRootlessSingleID(t *testing.T) {
	h := newRootlessHost(t, "", "")
	s := h.spec()
	want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(rootlessUID), Size: 1}}
	if !reflect.DeepEqual(s.Linux.UIDMappings, want) || !reflect.DeepEqual(s.Linux.GIDMappings, want) {
		t.Errorf("spec --rootless wrote uidMappings %v, gidMappings %v; want %v for both", s.Linux.UIDMappings, s.Linux.GIDMappings, want)
	}
	h.write(s, "", "sh", "-c", rootlessProbe)
	out, err := h.run("run", "single")
	if err != nil {
		t.Fatalf("run: %v: %s", err, out)
	}
	want2 := fmt.Sprintf("0 0 0 %d 1 0 %d 1 denied", rootlessUID, rootlessUID)
	if got := strings.Join(strings.Fields(out), " "); got != want2 {
		t.Errorf("the container printed %q, want %q", got, want2)
	}
	h.clean()
}

// TestRootlessSubordinateRange: with ranges in /etc/subuid (by user name)
// and /etc/subgid (by numeric uid), "spec --rootless" maps container ids
// 1.. to them and newuidmap/newgidmap write the maps: the container is
// root, sees both lines of each map, a file its uid 1000 creates belongs
// on the host to subordinate id 100000+999, and root's files stay
// unwritable. A map that leaves the caller out works too.
func TestRootlessSubordinateRange(t *testing.T) {
	h := newRootlessHost(t, rootlessUser+":100000:65536\n", fmt.Sprintf("%d:100000:65536\n", rootlessUID))
	s := h.spec()
	want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(rootlessUID), Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	if !reflect.DeepEqual(s.Linux.UIDMappings, want) || !reflect.DeepEqual(s.Linux.GIDMappings, want) {
		t.Fatalf("spec --rootless wrote uidMappings %v, gidMappings %v; want %v for both", s.Linux.UIDMappings, s.Linux.GIDMappings, want)
	}
	out := filepath.Join(h.dir, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(out, 0o777)

	h.write(s, out, "sh", "-c", rootlessProbe+"; cat /proc/self/setgroups")
	got, err := h.run("run", "ranged")
	if err != nil {
		t.Fatalf("run: %v: %s", err, got)
	}
	wantOut := fmt.Sprintf("0 0 0 %d 1 1 100000 65536 0 %d 1 1 100000 65536 denied allow", rootlessUID, rootlessUID)
	if g := strings.Join(strings.Fields(got), " "); g != wantOut {
		t.Errorf("the container printed %q, want %q", g, wantOut)
	}

	// The same container as uid 1000, gid 1000.
	s = h.spec()
	s.Process.User = specs.User{UID: 1000, GID: 1000}
	h.write(s, out, "sh", "-c", "touch /out/by1000 && id -u")
	if got, err := h.run("run", "as1000"); err != nil || strings.TrimSpace(got) != "1000" {
		t.Fatalf("run as uid 1000: %v: %s", err, got)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(out, "by1000"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 100999 || st.Gid != 100999 {
		t.Errorf("a file made by uid 1000 in the container is owned by %d:%d on the host, want 100999:100999", st.Uid, st.Gid)
	}

	// A map without the caller: the init starts as an unmapped uid and
	// makes itself root of its namespace, host uid 100000.
	s = h.spec()
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = s.Linux.UIDMappings
	h.write(s, "", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map")
	got, err = h.run("run", "without-caller")
	if err != nil {
		t.Fatalf("run without the caller in the map: %v: %s", err, got)
	}
	if g, want := strings.Join(strings.Fields(got), " "), "0 0 0 100000 65536"; g != want {
		t.Errorf("the container without the caller in its map printed %q, want %q", g, want)
	}
	h.clean()
}

// TestRootlessRangeRefused: a config whose maps the helpers would refuse
// fails before anything exists, naming the file, the user and the
// range; one that the kernel refuses fails when newuidmap writes it.
// Nothing is left behind.
func TestRootlessRangeRefused(t *testing.T) {
	good := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(rootlessUID), Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	bad := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(rootlessUID), Size: 1}, {ContainerID: 1, HostID: 300000, Size: 65536}}
	for _, tc := range []struct {
		name           string
		subuid, subgid string
		gid            int // the caller's real gid
		maps           []specs.LinuxIDMapping
		want           []string
	}{
		{
			name: "outside the ranges", subgid: rootlessUser + ":100000:65536\n", gid: rootlessUID, maps: bad,
			want: []string{
				fmt.Sprintf("newuidmap: /etc/subuid has no range for user %s (uid %d) (linux.uidMappings[1] maps host uids 300000-365535)", rootlessUser, rootlessUID),
				fmt.Sprintf("newgidmap: linux.gidMappings[1] maps host gids 300000-365535, outside the ranges /etc/subgid gives user %s (uid %d): 100000-165535", rootlessUser, rootlessUID),
			},
		},
		{
			// Allowed host ids, but container ids that overlap: the
			// kernel refuses what newuidmap writes, after the init
			// exists, and create undoes it.
			name: "refused by the kernel", subuid: rootlessUser + ":100000:65536\n", subgid: rootlessUser + ":100000:65536\n", gid: rootlessUID,
			maps: []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(rootlessUID), Size: 1}, {ContainerID: 0, HostID: 100000, Size: 65536}},
			want: []string{fmt.Sprintf(" 0 %d 1 0 100000 65536: newuidmap: write to uid_map failed: Invalid argument", rootlessUID)},
		},
		{
			// shadow's helpers serve only a caller in its primary group.
			name: "not the primary group", subuid: rootlessUser + ":100000:65536\n", subgid: rootlessUser + ":100000:65536\n", gid: 100, maps: good,
			want: []string{fmt.Sprintf("newuidmap: the caller's gid 100 is not the primary group %d of user %s (uid %d) in /etc/passwd", rootlessUID, rootlessUser, rootlessUID)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newRootlessHost(t, tc.subuid, tc.subgid)
			s := h.spec()
			s.Linux.UIDMappings, s.Linux.GIDMappings = tc.maps, tc.maps
			h.write(s, "", "true")
			h.gid = tc.gid
			out, err := h.run("run", "refused")
			if err == nil {
				t.Fatalf("run succeeded: %s", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("the error does not say %q:\n%s", want, out)
				}
			}
			h.clean()
		})
	}
}

// TestRootlessExec: "hull exec" by the user enters every namespace of its
// container, pid included, with a single-id map and with a range.
func TestRootlessExec(t *testing.T) {
	for _, tc := range []struct {
		name, subuid, subgid, uidMap string
	}{
		{"single id", "", "", fmt.Sprintf("0 %d 1", rootlessUID)},
		{"subordinate range", rootlessUser + ":100000:65536\n", rootlessUser + ":100000:65536\n", fmt.Sprintf("0 %d 1 1 100000 65536", rootlessUID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newRootlessHost(t, tc.subuid, tc.subgid)
			if err := os.Symlink("busybox", filepath.Join(h.bundle, "rootfs/bin/sleep")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("busybox", filepath.Join(h.bundle, "rootfs/bin/readlink")); err != nil {
				t.Fatal(err)
			}
			h.write(h.spec(), "", "sleep", "1000")
			if out, err := h.run("create", "ex"); err != nil {
				t.Fatalf("create: %v: %s", err, out)
			}
			defer h.clean()
			defer h.run("delete", "--force", "ex")
			if out, err := h.run("start", "ex"); err != nil {
				t.Fatalf("start: %v: %s", err, out)
			}
			out, err := h.run("state", "ex")
			if err != nil {
				t.Fatalf("state: %v: %s", err, out)
			}
			var st specs.State
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatal(err)
			}
			pidNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", st.Pid))
			if err != nil {
				t.Fatal(err)
			}
			out, err = h.run("exec", "ex", "sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/pid; echo x >> /host/owned-by-root && echo wrote || echo denied")
			if err != nil {
				t.Fatalf("exec: %v: %s", err, out)
			}
			if got, want := strings.Join(strings.Fields(out), " "), "0 "+tc.uidMap+" "+pidNS+" denied"; got != want {
				t.Errorf("exec printed %q, want %q", got, want)
			}
			// The exit status comes through the constructor's relay.
			for _, c := range []struct {
				script string
				want   int
			}{{"exit 7", 7}, {"kill -TERM $$", 128 + 15}} {
				_, err := h.run("exec", "ex", "sh", "-c", c.script)
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != c.want {
					t.Errorf("exec sh -c %q: %v, want exit status %d", c.script, err, c.want)
				}
			}
		})
	}
}
