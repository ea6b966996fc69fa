package runtime

import (
	"fmt"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunExitCode(t *testing.T) {
	e := newTestEnv(t)
	code, out := e.run("exit", e.spec("sh", "-c", "echo hello; exit 3"))
	if code != 3 || out != "hello" {
		t.Errorf("sh -c 'echo hello; exit 3' = %d, %q; want 3, \"hello\"", code, out)
	}
}

func TestExecEntersEveryNamespace(t *testing.T) {
	e := newTestEnv(t)
	s := e.spec("sleep", "1000")
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	st := e.start("ns", s)
	for _, ns := range []string{"mnt", "pid", "net", "ipc", "uts", "cgroup"} {
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		init, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", st.Pid, ns))
		if err != nil {
			t.Fatal(err)
		}
		if host == init {
			t.Errorf("the container's %s namespace is the host's (%s)", ns, host)
		}
		code, got := e.exec("ns", "readlink", "/proc/self/ns/"+ns)
		if code != 0 || got != init {
			t.Errorf("exec readlink /proc/self/ns/%s = %d, %q; want 0, %q (the init's)", ns, code, got, init)
		}
	}
	if code, out := e.exec("ns", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec exit 7 = %d (%s)", code, out)
	}
}

// tmpcopyup (runc's extension, which podman sets on its tmpfs mounts): the
// tmpfs over /bin starts with the image's /bin, owners and modes kept, so
// the shell still runs from it.
func TestTmpfsCopyUp(t *testing.T) {
	e := newTestEnv(t)
	s := e.spec("sh", "-c", "grep -c ' /bin tmpfs ' /proc/mounts; stat -c '%a %u' /bin/busybox")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/bin", Type: "tmpfs", Source: "tmpfs",
		Options: []string{"tmpcopyup", "mode=755"}})
	want, err := os.Stat(e.rootfs + "/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	code, out := e.run("copyup", s)
	if w := fmt.Sprintf("1\n%o 0", want.Mode().Perm()); code != 0 || out != w {
		t.Errorf("tmpcopyup on /bin = %d, %q; want 0, %q", code, out, w)
	}
}

// TestCgroupMountReadOnly: the container's /sys/fs/cgroup (the spec's
// "cgroup" mount, ro) is read-only all the way down: on a v1 or hybrid
// host the tmpfs and every hierarchy's bind mount in it, on a cgroup2
// host its one mount.
func TestCgroupMountReadOnly(t *testing.T) {
	e := newTestEnv(t)
	code, out := e.run("cgroupro", e.spec("sh", "-c", `
n=0; rw=0
while read -r id parent dev root mp opts rest; do
	case "$mp" in /sys/fs/cgroup|/sys/fs/cgroup/*)
		n=$((n+1))
		case "$opts" in ro|ro,*) ;; *) rw=$((rw+1)); echo "writable: $mp $opts";; esac
	esac
done < /proc/self/mountinfo
echo "$n mounts, $rw writable"
mkdir /sys/fs/cgroup/x 2>/dev/null && echo "mkdir /sys/fs/cgroup/x worked"
for d in /sys/fs/cgroup/*/; do mkdir "${d}x" 2>/dev/null && echo "mkdir ${d}x worked"; done
exit 0`))
	var n int
	if _, err := fmt.Sscanf(out, "%d mounts, 0 writable", &n); code != 0 || err != nil || n < 1 || strings.Contains(out, "\n") {
		t.Errorf("the container's /sys/fs/cgroup: exit %d, %q; want one or more mounts, all read-only", code, out)
	}
}
