package vmm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm"
)

// The Debian kernel boots only where /dev/kvm exists: inside the test VM.
// TestDebianInTestVM (on the host) builds what the guest needs — an
// initramfs with testguest as init and the virtio/ext4 modules — boots
// the test VM with it and this package's test binary, and runs the
// TestBoot* tests there, which boot the kernel under hull's VMM.

const (
	envKernel = "HULL_VMM_KERNEL" // the bzImage the TestBoot* tests boot
	envInitrd = "HULL_VMM_INITRD" // their initramfs
)

// guestModules are loaded by testguest in this order (each after what it
// depends on, per its .modinfo).
var guestModules = []string{
	"virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio-rng",
	"crc16", "mbcache", "jbd2", "crc32c_generic", "ext4",
	"failover", "net_failover", "virtio_net",
	"vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport",
	"evdev", "button",
}

func TestDebianInTestVM(t *testing.T) {
	if testvm.InGuest() {
		t.Skip("this is the host side; inside the guest the TestBoot* tests run")
	}
	testvm.Require(t, testvm.Root)
	bench := os.Getenv(envBench)
	// The test VM may first wait for another package's (one at a time on
	// the machine); the boot itself takes a few minutes.
	timeout := 40 * time.Minute
	if bench != "" {
		timeout = 60 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	k, err := testvm.FindKernel(ctx, testvm.DefaultCacheDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := buildGuestInitramfs(ctx, k.ModuleDir(), initrd); err != nil {
		t.Fatal(err)
	}
	vmlinux, err := extractVmlinux(ctx, k.Image(), dir)
	if err != nil {
		t.Fatal(err)
	}
	hull := testvm.Hull(t)
	testBin := filepath.Join(dir, "vmm.test")
	if out, err := exec.CommandContext(ctx, "go", "test", "-c", "-o", testBin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	cfg := testvm.Config{
		CPUs: 2, MemoryMiB: 2048,
		Files: map[string]string{
			"bin/vmm.test": testBin, "vmm/vmlinuz": k.Image(), "vmm/vmlinux": vmlinux, "vmm/initrd.cpio": initrd,
		},
		Dirs:      map[string]string{"src/vmm/testdata": filepath.Join(".", "testdata")},
		HostTools: []string{"/sbin/mkfs.ext4", "/sbin/debugfs"},
		Jobs: []testvm.Job{{
			Name: "vmm", Path: "/payload/bin/vmm.test", Dir: "/payload/src/vmm",
			// A hung test fails with every goroutine's stack, a minute
			// before the job's own timeout.
			Args:    []string{"-test.v", "-test.run", bootTests(), "-test.count", bootCount(), "-test.timeout", "11m"},
			Timeout: 12 * time.Minute,
			Env: []string{envKernel + "=/payload/vmm/vmlinuz", envInitrd + "=/payload/vmm/initrd.cpio", envVmlinux + "=/payload/vmm/vmlinux",
				"HULL_BINARY=/payload/bin/hull"},
		}},
	}
	if bench != "" {
		if err := addBenchmarks(&cfg, bench); err != nil {
			t.Fatal(err)
		}
	}
	maps.Copy(cfg.Files, testvm.HullFiles(hull))
	var console strings.Builder
	cfg.Console, cfg.Output = &console, testWriter{t}
	res, err := testvm.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("test VM: %v\nconsole:\n%s", err, console.String())
	}
	if code := res.Exits["vmm"]; code != 0 {
		t.Fatalf("the vmm job failed in the test VM (exit %d)", code)
	}
	if bench != "" {
		if !strings.Contains(res.Outputs["vmm"], "\nBenchmark") {
			t.Fatalf("no benchmark ran in the test VM (-test.bench %q)", bench)
		}
	} else if s := testvm.Summarize(res.Outputs["vmm"]); s.Passed == 0 {
		t.Fatalf("no TestBoot* test passed in the test VM: %v", s)
	}
}

// Benchmarks in the test VM (bench/vm.sh): HULL_VMM_BENCH is the
// -test.bench pattern, HULL_VMM_BENCHTIME the -test.benchtime (2x).
const (
	envBench     = "HULL_VMM_BENCH"
	envBenchTime = "HULL_VMM_BENCHTIME"
)

// qemuFirmware is what qemu-system-x86_64 -M microvm reads besides its
// shared libraries: qboot, the microvm machine's firmware.
var qemuFirmware = []string{"/usr/share/qemu/bios-microvm.bin"}

// addBenchmarks turns the guest job into a benchmark run of pattern, and
// brings the host's qemu, which BenchmarkBootToInit compares hull with.
func addBenchmarks(cfg *testvm.Config, pattern string) error {
	benchtime := os.Getenv(envBenchTime)
	if benchtime == "" {
		benchtime = "2x"
	}
	j := &cfg.Jobs[0]
	j.Args = []string{"-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime, "-test.timeout", "39m"}
	j.Timeout = 40 * time.Minute
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return fmt.Errorf("benchmarks compare with qemu-system-x86_64 (apt-get install qemu-system-x86): %w", err)
	}
	cfg.HostTools = append(cfg.HostTools, "qemu-system-x86_64")
	for _, f := range qemuFirmware {
		cfg.Files["sysroot"+f] = f
	}
	return nil
}

// bootTests is the -test.run pattern for the guest job: HULL_VMM_RUN,
// or every TestBoot* test.
func bootTests() string {
	if r := os.Getenv("HULL_VMM_RUN"); r != "" {
		return r
	}
	return "^TestBoot"
}

// bootCount is -test.count for the guest job: HULL_VMM_COUNT, or 1.
func bootCount() string {
	if c := os.Getenv("HULL_VMM_COUNT"); c != "" {
		return c
	}
	return "1"
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// buildGuestInitramfs writes a newc cpio: /init (testguest, built
// static), /dev/console for init's stdio, and the modules with their
// load order.
func buildGuestInitramfs(ctx context.Context, moduleDir, out string) error {
	tmp, err := os.MkdirTemp("", "hull-testguest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	initBin := filepath.Join(tmp, "init")
	build := exec.CommandContext(ctx, "go", "build", "-o", initBin, "./internal/testguest")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building testguest: %v\n%s", err, b)
	}
	var a cpio
	for _, d := range []string{"dev", "proc", "sys", "mnt", "modules"} {
		a.add(d, 0o040755, nil, 0)
	}
	a.add("dev/console", 0o020600, nil, 5<<8|1)
	initData, err := os.ReadFile(initBin)
	if err != nil {
		return err
	}
	a.add("init", 0o100755, initData, 0)
	paths := map[string]string{}
	filepath.WalkDir(moduleDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko") {
			paths[strings.TrimSuffix(d.Name(), ".ko")] = p
		}
		return nil
	})
	var order []string
	for _, name := range guestModules {
		path, ok := paths[name]
		if !ok {
			return fmt.Errorf("module %s not found under %s", name, moduleDir)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		a.add("modules/"+name+".ko", 0o100644, b, 0)
		order = append(order, name)
	}
	a.add("modules/order", 0o100644, []byte(strings.Join(order, "\n")+"\n"), 0)
	return os.WriteFile(out, a.bytes(), 0o644)
}

// cpio is a newc-format archive (the format the kernel unpacks into its
// initial rootfs).
type cpio struct {
	buf bytes.Buffer
	ino int
}

func (c *cpio) add(name string, mode uint32, data []byte, rdev uint32) {
	c.ino++
	fmt.Fprintf(&c.buf, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev>>8, rdev&0xff, len(name)+1, 0)
	c.buf.WriteString(name)
	c.buf.WriteByte(0)
	c.pad()
	c.buf.Write(data)
	c.pad()
}

func (c *cpio) pad() {
	for c.buf.Len()%4 != 0 {
		c.buf.WriteByte(0)
	}
}

func (c *cpio) bytes() []byte {
	c.add("TRAILER!!!", 0, nil, 0)
	return c.buf.Bytes()
}

// vsockEcho listens on AF_VSOCK port (any CID) and answers one
// connection with "echo: " and what it read.
func vsockEcho(t *testing.T, port uint32) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("AF_VSOCK socket: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: port}); err != nil {
		unix.Close(fd)
		t.Fatalf("bind vsock port %d: %v", port, err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		// Poll with a timeout: a blocked accept would not notice Cleanup.
		var c int
		var err error
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
			if n > 0 {
				if c, _, err = unix.Accept(fd); err == nil {
					break
				}
			}
		}
		defer unix.Close(c)
		buf := make([]byte, 64)
		n, err := unix.Read(c, buf)
		if err != nil {
			return
		}
		unix.Write(c, append([]byte("echo: "), buf[:n]...))
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		unix.Close(fd)
	})
}

// persistentTap creates a tap that outlives its file descriptor, gives
// it addr and brings it up, so that it is ready before the guest sends;
// the test deletes it at the end. (This runs inside the throwaway test VM.)
func persistentTap(t *testing.T, name, addr string) string {
	t.Helper()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, _ := unix.NewIfreq(name)
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		t.Fatalf("TUNSETIFF %s: %v", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		t.Fatalf("TUNSETPERSIST %s: %v", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(link); err != nil {
			t.Errorf("deleting tap %s: %v", name, err)
		}
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("tap %s still exists", name)
		}
	})
	a, _ := netlink.ParseAddr(addr)
	if err := netlink.AddrAdd(link, a); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	return name
}

// bootEnv returns the kernel and initrd the TestBoot* tests boot: from
// the environment TestDebianInTestVM sets inside the test VM.
func bootEnv(t *testing.T) (kernel, initrd string) {
	t.Helper()
	testvm.Require(t, testvm.KVM)
	kernel, initrd = os.Getenv(envKernel), os.Getenv(envInitrd)
	if kernel == "" || initrd == "" {
		t.Skipf("%s and %s are unset: TestDebianInTestVM runs this test in the test VM with them", envKernel, envInitrd)
	}
	return kernel, initrd
}

// console collects the guest's serial output and logs it line by line.
type console struct {
	t    *testing.T
	mu   sync.Mutex
	all  bytes.Buffer
	line []byte
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all.Write(p)
	for _, b := range p {
		if b == '\n' {
			c.t.Log("guest: " + strings.TrimRight(string(c.line), "\r"))
			c.line = c.line[:0]
			continue
		}
		c.line = append(c.line, b)
	}
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all.String()
}

var _ io.Writer = (*console)(nil)

// TestBootDebian boots Debian's stock kernel with 2 vCPUs, 256 MiB, an
// ext4 disk made here and an entropy device. testguest reports what the
// guest saw (through /dev/kmsg), writes a file to the disk, and powers
// off; the test checks the run ended with the power-off, the guest saw
// both CPUs and the memory, and the file arrived in the image.
func TestBootDebian(t *testing.T) {
	kernel, initrd := bootEnv(t)
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	os.MkdirAll(content, 0o755)
	os.WriteFile(filepath.Join(content, "input.txt"), []byte("hello from the host\n"), 0o644)
	disk := filepath.Join(dir, "disk.img")
	if out, err := exec.Command("/sbin/mkfs.ext4", "-q", "-F", "-d", content, disk, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	tap := persistentTap(t, "hullt0", "10.99.1.1/24")
	echo, err := net.ListenPacket("udp", "10.99.1.1:7777")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(append([]byte("echo: "), buf[:n]...), from)
		}
	}()
	vsockEcho(t, 5000)
	con := &console{t: t}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	vm, err := Start(ctx, Config{
		Kernel: kernel, Initrd: initrd, CPUs: 2, MemoryMiB: 256, RNG: true, VsockCID: 3,
		Disks:   []Disk{{Path: disk}},
		Net:     []NetConfig{{Tap: tap}},
		Cmdline: "console=ttyS0 panic=-1 loglevel=4 testguest.powerbutton",
	}, WithConsole(con))
	if err != nil {
		t.Fatal(err)
	}
	// testguest waits for the ACPI power button once it has done its
	// checks; hull presses it and the guest powers off.
	for !strings.Contains(con.String(), "testguest: waiting for the power button") {
		select {
		case <-vm.Done():
			t.Fatalf("the run ended before the guest waited for the power button: %+v", vm.Wait())
		case <-time.After(100 * time.Millisecond):
		}
	}
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	res := vm.Shutdown(sctx)
	t.Logf("serial: %+v", vm.SerialStats())
	if res.Reason != PowerOff {
		t.Fatalf("run ended with %v (%s), want a power-off", res.Reason, res.Detail)
	}
	out := con.String()
	for _, want := range []string{
		"testguest: cpus=2", "testguest: memtotal_kb=", `testguest: input="hello from the host"`,
		"testguest: disk=ok", "testguest: hwrng_bytes=16", "testguest: done",
		`testguest: net_reply="echo: ping from the guest"`,
		`testguest: vsock_reply="echo: vsock hello"`,
		"testguest: power button pressed on /dev/input/event",
		"\ntestguest: ttyS0 direct", // the UART's interrupt-driven path, not printk
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(out, "testguest: error=") {
		t.Errorf("the guest reported errors")
	}
	got, err := exec.Command("/sbin/debugfs", "-R", "cat /output.txt", disk).Output()
	if err != nil || !strings.Contains(string(got), "written by the guest") {
		t.Errorf("output.txt in the image = %q, %v; want the guest's line", got, err)
	}
}
