// Command guestinit is PID 1 of the test VM.
//
// The host harness (package testvm) packs it into the initramfs as /init,
// with busybox and the kernel modules the VM needs, and puts the test
// binaries on a virtio disk. It runs in two stages:
//
//  1. From the initramfs. The initramfs is the kernel's rootfs, which
//     pivot_root(2) refuses to move (EINVAL: it has no parent mount), and
//     container runtimes pivot_root. So init copies itself onto a fresh
//     tmpfs, moves that tmpfs over / and re-executes itself there — what
//     switch_root(8) does.
//  2. From the tmpfs root: mount the API filesystems and cgroup2, load the
//     modules (virtio, ext4, kvm), mount the payload disk, run every job of
//     its manifest with its output on the second serial port (ttyS1), and
//     power the machine off.
//
// Each job's end is announced on ttyS1 by a line
//
//	@@hull-testvm@@ {"job":"NAME","exit":CODE}
//
// and the run's end by @@hull-testvm@@ {"done":true}. A run that ends
// without that last line (a panic, a hang the host times out) failed.
// While the jobs run, init writes "@@hull-testvm@@ alive" lines on the
// console, by which the host tells a guest whose test hangs (the job's
// timeout ends it) from an emulator that froze.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm/protocol"
)

const stageEnv = "HULL_TESTVM_STAGE"

func main() {
	var err error
	if os.Getenv(stageEnv) != "2" {
		err = switchRoot()
	} else {
		err = run()
	}
	// Reaching here means something failed before the jobs could report:
	// say so on the console and power off; the host sees no done line.
	fmt.Fprintf(os.Stderr, "guestinit: %v\n", err)
	poweroff()
}

// switchRoot copies the initramfs into a tmpfs and moves it over /.
func switchRoot() error {
	for _, m := range []mount{{"devtmpfs", "/dev", "devtmpfs", 0, ""}} {
		if err := m.do(); err != nil {
			return err
		}
	}
	console()
	if err := (mount{"tmpfs", "/newroot", "tmpfs", 0, "mode=0755"}).do(); err != nil {
		return err
	}
	if err := copyTree("/", "/newroot", map[string]bool{"/newroot": true, "/dev": true, "/proc": true, "/sys": true}); err != nil {
		return fmt.Errorf("copy initramfs to tmpfs: %w", err)
	}
	if err := unix.Unmount("/dev", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("umount /dev: %w", err)
	}
	if err := os.Chdir("/newroot"); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("mount --move /newroot /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	env := append(os.Environ(), stageEnv+"=2")
	return unix.Exec("/init", []string{"/init"}, env)
}

func run() error {
	for _, m := range []mount{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
		{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "nsdelegate"},
	} {
		if err := m.do(); err != nil {
			return err
		}
	}
	console()
	// Every mount below / private, as on a systemd host it is shared:
	// runtimes must cope with both, and tests set what they need.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("make / shared: %w", err)
	}
	_ = os.Symlink("/proc/self/fd", "/dev/fd")
	_ = os.Symlink("/proc/self/fd/0", "/dev/stdin")
	_ = os.Symlink("/proc/self/fd/1", "/dev/stdout")
	_ = os.Symlink("/proc/self/fd/2", "/dev/stderr")
	_ = os.Symlink("pts/ptmx", "/dev/ptmx")
	if err := unix.Sethostname([]byte("hull-testvm")); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if err := exec.Command("/bin/busybox", "--install", "-s", "/bin").Run(); err != nil {
		return fmt.Errorf("busybox --install: %w", err)
	}
	if err := loadModules("/modules"); err != nil {
		return err
	}
	if err := linkUp("lo"); err != nil {
		return err
	}
	if err := mountPayload(); err != nil {
		return err
	}
	b, err := os.ReadFile(protocol.PayloadDir + "/" + protocol.ManifestFile)
	if err != nil {
		return err
	}
	var m protocol.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := linkSysroot(protocol.PayloadDir + "/sysroot"); err != nil {
		return err
	}

	results, err := os.OpenFile("/dev/ttyS1", os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open result port: %w", err)
	}
	rawTTY(results)
	w := bufio.NewWriter(results)
	go heartbeat(os.Stdout)
	for _, job := range m.Jobs {
		code := runJob(job, results)
		announce(w, protocol.Event{Job: job.Name, Exit: &code})
	}
	announce(w, protocol.Event{Done: true})
	unix.Sync()
	poweroff()
	return nil
}

// heartbeat tells the host, on the console, that the guest still runs:
// its uptime and load average every protocol.HeartbeatInterval seconds.
func heartbeat(console io.Writer) {
	for range time.Tick(protocol.HeartbeatInterval * time.Second) {
		up, _ := os.ReadFile("/proc/uptime")
		load, _ := os.ReadFile("/proc/loadavg")
		upSecs, _, _ := strings.Cut(string(up), " ")
		fmt.Fprintf(console, "\n%s uptime=%ss load=%s\n", protocol.Heartbeat, upSecs, strings.TrimSpace(string(load)))
	}
}

func announce(w *bufio.Writer, ev protocol.Event) {
	b, _ := json.Marshal(ev)
	fmt.Fprintf(w, "\n%s %s\n", protocol.Marker, b)
	w.Flush()
}

// runJob runs one test binary with its output on out and returns its exit
// status: -1 when it could not start, 124 when it timed out (as timeout(1)).
func runJob(job protocol.Job, out io.Writer) int {
	timeout := time.Duration(job.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, job.Path, job.Args...)
	cmd.Dir = job.Dir
	cmd.Env = append([]string{
		"PATH=/bin:/sbin:/usr/bin:/usr/sbin:" + protocol.PayloadDir + "/bin",
		"HOME=/root",
		"TMPDIR=/tmp",
		"HULL_TESTVM=1",
		"HULL_BINARY=" + protocol.PayloadDir + "/bin/hull",
	}, job.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(out, "\nguestinit: %s timed out after %s\n", job.Name, timeout)
		return 124
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		fmt.Fprintf(out, "\nguestinit: %s: %v\n", job.Name, err)
		return -1
	}
	return 0
}

// loadModules loads the modules the host listed in dependency order.
func loadModules(dir string) error {
	b, err := os.ReadFile(dir + "/order")
	if err != nil {
		return err
	}
	for _, name := range strings.Fields(string(b)) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("finit_module %s: %w", name, err)
		}
	}
	return nil
}

// mountPayload waits for the virtio disk to appear and mounts it.
func mountPayload() error {
	var err error
	for i := 0; i < 100; i++ {
		if err = (mount{protocol.PayloadDevice, protocol.PayloadDir, "ext4", 0, ""}).do(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// linkSysroot makes the host programs and shared libraries the host put on
// the payload (runc, crun, mkfs.ext4, …) visible at their usual paths.
func linkSysroot(sysroot string) error {
	entries, err := os.ReadDir(sysroot)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := os.Lstat("/" + e.Name()); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(sysroot, e.Name()), "/"+e.Name()); err != nil {
			return err
		}
	}
	return nil
}

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

func (m mount) do() error {
	if err := os.MkdirAll(m.target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", m.source, m.target, m.fstype, err)
	}
	return nil
}

// console points stdio at /dev/console, which the kernel opened for PID 1
// only if it existed in the initramfs.
func console() {
	f, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return
	}
	for _, fd := range []int{0, 1, 2} {
		_ = unix.Dup2(int(f.Fd()), fd)
	}
	f.Close()
}

func rawTTY(f *os.File) {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return
	}
	t.Oflag &^= unix.OPOST
	_ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
}

func poweroff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// linkUp sets IFF_UP on a network interface, as "ip link set NAME up".
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS %s: %w", name, err)
	}
	return nil
}
