package netns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/netns/nsfs"
	"golang.org/x/sys/unix"
)

// unprivUID is the user the rootless test runs as: no capability, no
// entry in /etc/passwd, nothing but its own user namespaces.
const unprivUID = 4242

// TestRootlessUnprivileged gives a container a network and published ports
// with no privilege at all, as a rootless runtime does:
//
//	root test (lab)                     uid 4242, in the lab's "host" netns
//	  │  exec, setuid 4242    ───────►  hull (TestUnprivilegedHelperProcess)
//	  │                                   ├─ "container": CLONE_NEWUSER|CLONE_NEWNET
//	  │                                   │   (uid 0 inside = 4242 outside)
//	  │                                   └─ Manager.Setup(netnsPath, usernsPath)
//	  │                                        └─ pasta / slirp4netns, uid 4242
//	  └─ clients in the host and outside namespaces, a server in the
//	     container's (root may enter any namespace; uid 4242 none but its own)
//
// The helper opens /dev/net/tun as uid 4242 from inside the container's
// user namespace, which the device node's mode must allow: Debian's udev
// makes it 0666, the kernel's devtmpfs alone (the test VM) and some hosts
// 0600. There uid 4242 gets a mount namespace of its own in which
// /dev/net/tun is a 0666 node of the same device (10, 200): the host's
// node stays as it is.
func TestRootlessUnprivileged(t *testing.T) {
	requireRoot(t)
	for _, mode := range []string{ModePasta, ModeSlirp4netns} {
		t.Run(mode, func(t *testing.T) {
			bin, err := exec.LookPath(mode)
			if err != nil {
				t.Skipf("needs %s (Debian: apt-get install %s)", mode, map[string]string{ModePasta: "passt", ModeSlirp4netns: "slirp4netns"}[mode])
			}
			l := newLab(t)
			u := startUnprivileged(t, l, mode, filepath.Dir(bin))
			att := u.att

			// Everything the helper is, it is as uid 4242.
			if att.Helper == nil || !att.Helper.Alive() {
				t.Fatalf("no live helper recorded: %+v", att.Helper)
			}
			if uid := procUID(t, att.Helper.PID); uid != strconv.Itoa(unprivUID) {
				t.Errorf("%s runs as uid %s, want %d", mode, uid, unprivUID)
			}
			testRootlessTraffic(t, l, mode, att.NetnsPath)

			if err := u.teardown(); err != nil {
				t.Fatalf("teardown as uid %d: %v", unprivUID, err)
			}
			if att.Helper.Alive() {
				t.Errorf("%s (pid %d) still runs after teardown", mode, att.Helper.PID)
			}
			// What the unprivileged Manager recorded is gone too.
			m, err := New(WithHostNetns(l.host), WithStateDir(u.state), WithRunDir(filepath.Join(u.dir, "run")))
			must(t, err)
			if lo, err := m.Scan(); err != nil || !lo.Empty() {
				t.Errorf("left behind by the unprivileged setup: %+v, %v", lo, err)
			}
		})
	}
}

// unprivileged is the uid-4242 process of TestRootlessUnprivileged.
type unprivileged struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	dir   string // its files: state, resolv.conf
	state string
	att   *Attachment
}

// startUnprivileged runs TestUnprivilegedHelperProcess as uid 4242 in the
// lab's host namespace, and waits for its Setup.
func startUnprivileged(t *testing.T, l *lab, mode, binDir string) *unprivileged {
	t.Helper()
	// uid 4242 must be able to read and run all of it: t.TempDir is 0700,
	// and so may be the directory go test built the binary in.
	dir, err := os.MkdirTemp("", "hull-netns-unpriv-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	u := &unprivileged{dir: filepath.Join(dir, "u"), state: filepath.Join(dir, "u", "state")}
	must(t, os.MkdirAll(u.state, 0o755))
	must(t, os.Chown(u.dir, unprivUID, unprivUID))
	must(t, os.Chown(u.state, unprivUID, unprivUID))
	must(t, os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver 192.0.2.53\n"), 0o644))
	self, err := os.Executable()
	must(t, err)
	exe := filepath.Join(dir, "netns.test")
	must(t, copyExecutable(self, exe))

	u.cmd = exec.Command(exe, "-test.run=^TestUnprivilegedHelperProcess$")
	u.cmd.Env = []string{"HULL_NETNS_UNPRIV=" + mode, "HULL_NETNS_UNPRIV_DIR=" + dir,
		"PATH=" + binDir + ":/usr/bin:/bin", "HOME=" + u.dir}
	u.cmd.Dir = u.dir
	u.cmd.Stderr = os.Stderr
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: unprivUID, Gid: unprivUID}}
	u.in, err = u.cmd.StdinPipe()
	must(t, err)
	out, err := u.cmd.StdoutPipe()
	must(t, err)
	u.out = bufio.NewReader(out)
	// The child is forked on a thread in the lab's host namespace: that is
	// the namespace it (and the helper it starts) lives in.
	must(t, startWithTun(u.cmd, l.host, dir))
	t.Cleanup(func() { u.in.Close(); u.cmd.Wait() })
	line, err := u.reply()
	if err != nil {
		t.Fatalf("uid %d: setup: %v", unprivUID, err)
	}
	u.att = &Attachment{}
	must(t, json.Unmarshal([]byte(line), u.att))
	return u
}

// reply reads the helper process's next line: "ok <text>" or "error <text>".
func (u *unprivileged) reply() (string, error) {
	line, err := u.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no reply (%v)", err)
	}
	line = strings.TrimSuffix(line, "\n")
	if line == "ok" {
		return "", nil
	}
	if rest, ok := strings.CutPrefix(line, "ok "); ok {
		return rest, nil
	}
	return "", fmt.Errorf("%s", line)
}

func (u *unprivileged) teardown() error {
	fmt.Fprintln(u.in, "teardown")
	_, err := u.reply()
	return err
}

// startWithTun starts cmd in the network namespace netns, and, when other
// users may not open /dev/net/tun, in a mount namespace of its own where
// /dev/net/tun is a node of the tun device that they may (made in dir).
func startWithTun(cmd *exec.Cmd, netns, dir string) error {
	st, err := os.Stat("/dev/net/tun")
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o006 == 0o006 {
		return nsfs.Do(netns, cmd.Start)
	}
	errc := make(chan error, 1)
	go func() {
		// This thread's namespaces change: never unlocked, so it ends
		// with the goroutine.
		goruntime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return os.NewSyscallError("unshare(CLONE_NEWNS)", err)
			}
			// No propagation back to the host's mounts.
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return &os.PathError{Op: "mount MS_PRIVATE", Path: "/", Err: err}
			}
			// A tmpfs of this namespace's own: dir may be on a nodev
			// mount (the test VM's /tmp), where no device opens.
			devDir := filepath.Join(dir, "dev")
			if err := os.Mkdir(devDir, 0o755); err != nil {
				return err
			}
			if err := unix.Mount("tmpfs", devDir, "tmpfs", 0, "mode=0755"); err != nil {
				return &os.PathError{Op: "mount tmpfs", Path: devDir, Err: err}
			}
			node := filepath.Join(devDir, "tun")
			if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))); err != nil {
				return &os.PathError{Op: "mknod", Path: node, Err: err}
			}
			if err := os.Chmod(node, 0o666); err != nil { // past the umask
				return err
			}
			if err := unix.Mount(node, "/dev/net/tun", "", unix.MS_BIND, ""); err != nil {
				return &os.PathError{Op: "mount --bind " + node, Path: "/dev/net/tun", Err: err}
			}
			f, err := os.Open(netns)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				return os.NewSyscallError("setns", err)
			}
			return cmd.Start()
		}()
	}()
	return <-errc
}

func copyExecutable(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// procUID is the real UID of process pid, from /proc/pid/status.
func procUID(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Fields(rest)[0]
		}
	}
	return "?"
}

// TestUnprivilegedHelperProcess is not a test: TestRootlessUnprivileged
// runs the test binary again as uid 4242 with HULL_NETNS_UNPRIV set to a
// mode. It starts a "container" (this binary once more, in new user and
// network namespaces, HULL_NETNS_UNPRIV=container), sets up its network,
// writes "ok <attachment JSON>", and on "teardown" on stdin tears it down
// and writes "ok".
func TestUnprivilegedHelperProcess(t *testing.T) {
	mode := os.Getenv("HULL_NETNS_UNPRIV")
	switch mode {
	case "":
		t.Skip("helper process for TestRootlessUnprivileged")
	case "container":
		io.Copy(io.Discard, os.Stdin) // hold the namespaces until stdin closes
		os.Exit(0)
	}
	fail := func(format string, a ...any) {
		fmt.Printf("error "+format+"\n", a...)
		os.Exit(1)
	}
	dir := os.Getenv("HULL_NETNS_UNPRIV_DIR")
	ctr := exec.Command(os.Args[0], "-test.run=^TestUnprivilegedHelperProcess$")
	ctr.Env = []string{"HULL_NETNS_UNPRIV=container"}
	ctr.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	hold, err := ctr.StdinPipe()
	if err != nil {
		fail("%v", err)
	}
	if err := ctr.Start(); err != nil {
		fail("container: %v", err)
	}
	defer func() { hold.Close(); ctr.Wait() }()
	proc := fmt.Sprintf("/proc/%d/ns/", ctr.Process.Pid)

	home := filepath.Join(dir, "u")
	m, err := New(WithStateDir(filepath.Join(home, "state")), WithRunDir(filepath.Join(home, "run")),
		WithResolvConf(filepath.Join(dir, "resolv.conf"), ""))
	if err != nil {
		fail("%v", err)
	}
	var ports []PortMapping
	for _, spec := range rootlessPorts {
		p, _ := ParsePort(spec)
		ports = append(ports, p...)
	}
	att, err := m.Setup(context.Background(), Config{ID: "rl", Mode: mode, NetnsPath: proc + "net", UsernsPath: proc + "user", Ports: ports})
	if err != nil {
		fail("%v", err)
	}
	b, _ := json.Marshal(att)
	fmt.Printf("ok %s\n", b)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if line != "teardown\n" {
		fail("want teardown, got %q", line)
	}
	if err := m.Teardown(context.Background(), "rl"); err != nil {
		fail("%v", err)
	}
	// The network verbs work without root too.
	if removed, err := m.Prune(context.Background()); err != nil || len(removed) != 0 {
		fail("prune after teardown: removed %q, %v", removed, err)
	}
	if lo, err := m.Scan(); err != nil || !lo.Empty() {
		fail("scan after teardown: %+v, %v", lo, err)
	}
	fmt.Println("ok")
	os.Exit(0)
}
