package hull_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The subtests of TestContainerCLI that isolate containers further:
// --init, seccomp profiles, user namespaces.

func cliInit(t *testing.T, c *cli) {
	c.t = t
	// The orphan "sleep 0.1" is reparented to PID 1 when its shell
	// exits at once; PID 1 is then "sleep 1000", which never waits,
	// or with --init the reaper, which does.
	prog := `sh -c "sleep 0.1 &"; exec sleep 1000`
	with := strings.TrimSpace(c.ok("run", "-d", "--init", "--network", "none", c.image, "sh", "-c", prog))
	without := strings.TrimSpace(c.ok("run", "-d", "--network", "none", c.image, "sh", "-c", prog))
	// procs lists the container's processes as "PID STATE COMM".
	procs := func(id string) []string {
		var out []string
		for _, l := range strings.Split(c.ok("exec", id, "sh", "-c", "cat /proc/[0-9]*/stat"), "\n") {
			open, end := strings.IndexByte(l, '('), strings.LastIndexByte(l, ')')
			if open < 0 || end < 0 || end+3 > len(l) || l[open+1:end] == "cat" || l[open+1:end] == "sh" {
				continue // the exec's own processes
			}
			out = append(out, strings.TrimSpace(l[:open])+" "+l[end+2:end+3]+" "+l[open+1:end])
		}
		return out
	}
	var got []string
	for range 100 {
		if got = procs(without); strings.Contains(strings.Join(got, ","), " Z ") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(strings.Join(got, ","), " Z sleep") {
		t.Errorf("without --init, no zombie: %q", got)
	}
	for range 100 {
		if got = procs(with); len(got) == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "1 S ") || got[1] == "" || strings.Contains(strings.Join(got, ","), " Z ") {
		t.Errorf("with --init: processes %q, want the reaper as 1 and sleep 1000, no zombie", got)
	}
	if cmdline := c.ok("exec", with, "cat", "/proc/1/cmdline"); !strings.Contains(cmdline, "hull-init") {
		t.Errorf("PID 1 with --init is %q", cmdline)
	}
	if ps := c.ok("ps"); !strings.Contains(ps, `"sh -c sh -c \"sleep`) {
		t.Errorf("ps shows the reaper, not the command:\n%s", ps)
	}
	// SIGTERM reaches sleep, which is not PID 1: it dies of it, and
	// the reaper exits as it did.
	c.ok("kill", "-s", "TERM", with)
	if code := strings.TrimSpace(c.ok("wait", with)); code != "143" {
		t.Errorf("exit code after SIGTERM with --init: %s, want 143", code)
	}
	c.ok("rm", "-f", with, without)
	c.assertClean(with, without)
}

func cliSeccomp(t *testing.T, c *cli) {
	c.t = t
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile.json")
	// docker's format: archMap, and a rule that applies only with
	// CAP_SYS_ADMIN, which the container lacks.
	os.WriteFile(profile, []byte(`{
"defaultAction": "SCMP_ACT_ALLOW",
"archMap": [
	{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
	{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
],
"syscalls": [
	{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18, "comment": "EXDEV, which mkdir never returns"},
	{"names": ["sethostname"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
	{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18, "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
]
}`), 0o644)
	id := strings.TrimSpace(c.ok("run", "-d", "--network", "none", "--security-opt", "seccomp="+profile, c.image,
		// One stream: the log keeps each stream's order, not the order
		// between stdout and stderr, which come through two pipes.
		"sh", "-c", "exec 2>&1; mkdir /x; hostname other; grep Seccomp: /proc/self/status"))
	c.ok("wait", id)
	want := "mkdir: can't create directory '/x': Invalid cross-device link\nhostname: sethostname: Invalid cross-device link\nSeccomp:\t2\n"
	if got := c.ok("logs", id); got != want {
		t.Errorf("with the profile:\n%s\nwant:\n%s", got, want)
	}
	id2 := strings.TrimSpace(c.ok("run", "-d", "--network", "none", "--security-opt", "seccomp=unconfined", c.image,
		"sh", "-c", "mkdir /x && grep Seccomp: /proc/self/status"))
	c.ok("wait", id2)
	if got := c.ok("logs", id2); got != "Seccomp:\t0\n" {
		t.Errorf("seccomp=unconfined: %q", got)
	}
	os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscals": []}`), 0o644)
	if _, err := c.try("run", "-d", "--security-opt", "seccomp="+profile, c.image); err == nil || !strings.Contains(err.Error(), "syscals") {
		t.Errorf("a profile with an unknown field: %v", err)
	}
	os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["nosuchcall"], "action": "SCMP_ACT_ERRNO"}]}`), 0o644)
	if _, err := c.try("run", "-d", "--security-opt", "seccomp="+profile, c.image); err == nil || !strings.Contains(err.Error(), "nosuchcall") {
		t.Errorf("a profile with an unknown system call: %v", err)
	}
	c.ok("rm", id, id2)
	c.assertClean(id, id2)
}

func cliUserNS(t *testing.T, c *cli) {
	c.t = t
	id := strings.TrimSpace(c.ok("run", "-d", "--name", "mapped", "--userns", "auto", "--network", "none", c.image, "sh", "-c",
		"cat /proc/self/uid_map; id -u; busybox ls -ln /bin/busybox | busybox awk '{print $3\":\"$4}'; echo hi > /made; while true; do sleep 1; done"))
	ins := c.inspect(id)
	if ins.UserNS == nil || ins.UserNS.Size != 65536 || ins.UserNS.HostID == 0 {
		t.Fatalf("inspect: userNS %+v", ins.UserNS)
	}
	host := ins.UserNS.HostID
	// Inside: root, mapped to the range; the image's files (owned
	// by the host's root) are root's through the idmapped layers.
	want := fmt.Sprintf("0 %d 65536\n0\n0:0\n", host)
	var got string
	for range 100 {
		if got = c.ok("logs", id); strings.Count(got, "\n") >= 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fields := strings.Fields(got); strings.Join(fields, " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("inside: %q, want %q", got, want)
	}
	// Outside: the file root made belongs to the range's first id,
	// and the container's processes run as it.
	var st syscall.Stat_t
	for range 100 {
		if syscall.Stat(filepath.Join(ins.Dir, "upper", "made"), &st) == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Uid != host || st.Gid != host {
		t.Errorf("/made on the host: owner %d:%d, want %d:%d", st.Uid, st.Gid, host, host)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ins.State.Pid)); err != nil || !strings.Contains(string(b), fmt.Sprintf("\nUid:\t%d\t", host)) {
		t.Errorf("the container's init on the host: %v\n%s", err, b)
	}
	// exec joins the user namespace; a second container gets another range.
	if got := c.ok("exec", "mapped", "sh", "-c", "id -u; cat /made"); got != "0\nhi\n" {
		t.Errorf("exec: %q", got)
	}
	id2 := strings.TrimSpace(c.ok("create", "--userns", "auto", "--network", "none", c.image))
	if m := c.inspect(id2).UserNS; m == nil || m.HostID < host+65536 && m.HostID+m.Size > host {
		t.Errorf("a second auto range %+v overlaps the first at %d", m, host)
	}
	c.ok("rm", id2)
	// Stop and start: the same range, the writes still the container's.
	c.ok("stop", "-t", "0", "mapped")
	c.ok("start", "mapped")
	if got := c.ok("exec", "mapped", "sh", "-c", "echo more >> /made && cat /made"); got != "hi\nmore\n" {
		t.Errorf("after restart: %q", got)
	}
	// An explicit range, and host: no user namespace.
	if got := c.ok("run", "--rm", "--userns", "200000:1000", "--network", "none", c.image, "cat", "/proc/self/uid_map"); strings.Join(strings.Fields(got), " ") != "0 200000 1000" {
		t.Errorf("--userns 200000:1000: uid_map %q", got)
	}
	if got := c.ok("run", "--rm", "--userns", "host", "--network", "none", c.image, "cat", "/proc/self/uid_map"); strings.Join(strings.Fields(got), " ") != "0 0 4294967295" {
		t.Errorf("--userns host: uid_map %q", got)
	}
	if _, err := c.try("run", "--userns", "0:10", c.image); err == nil || !strings.Contains(err.Error(), "userNS") {
		t.Errorf("--userns 0:10: %v", err)
	}
	// cp into it: the files are the container's root's.
	in := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(in, []byte("copied\n"), 0o644)
	c.ok("cp", in, "mapped:/")
	if got := c.ok("exec", "mapped", "sh", "-c", "busybox ls -ln /in.txt | busybox awk '{print $3\":\"$4}'"); got != "0:0\n" {
		t.Errorf("a file cp'd in belongs to %q inside, want 0:0", got)
	}
	// commit: the layer has the container's ids, not the host's.
	c.ok("commit", "mapped", "local/mapped:v1")
	if got := c.ok("run", "--rm", "--network", "none", "local/mapped:v1", "sh", "-c", "busybox ls -ln /made | busybox awk '{print $3\":\"$4}'"); got != "0:0\n" {
		t.Errorf("/made in the committed image: owner %q, want 0:0", got)
	}
	c.ok("rm", "-f", "mapped")
	c.assertClean(id, id2)
}
