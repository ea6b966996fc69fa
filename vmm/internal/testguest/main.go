// Command testguest is the init of the Linux guests hull's VMM tests boot:
// a static program in a small initramfs that reports what the guest sees
// on the serial console, one "testguest: key=value" line per fact, then
// powers the machine off.
//
// It loads the modules listed in /modules/order (Debian builds virtio,
// virtio_mmio, virtio_blk and ext4 as modules), reports the CPUs and
// memory the kernel found, and when /dev/vda appears mounts it, prints
// /input.txt from it and writes /output.txt to it. The test reads these
// lines from hull's console and the file from the disk image.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kmsg is /dev/kmsg once devtmpfs is mounted: lines written there reach
// the console through printk, which polls the UART, so they arrive even
// if the UART's interrupts do not work. say writes both, so the test can
// tell the two paths apart ("kmsg:" lines and plain lines).
var kmsg *os.File

func say(format string, args ...any) {
	line := fmt.Sprintf("testguest: "+format+"\n", args...)
	os.Stdout.WriteString(line)
	if kmsg != nil {
		kmsg.WriteString("kmsg: " + line)
	}
}

func main() {
	say("started")
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil && err != unix.EBUSY {
			say("error=mount %s: %v", m.dst, err)
		}
	}
	kmsg, _ = os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	say("cpus=%d", bytes.Count(cpuinfo, []byte("\nprocessor\t"))+boolInt(bytes.HasPrefix(cpuinfo, []byte("processor\t"))))
	say("memtotal_kb=%d", memTotal())
	loadModules()
	if waitFor("/dev/vda", 10*time.Second) {
		disk()
	} else {
		say("vda=absent")
	}
	if waitFor("/sys/class/net/eth0", 5*time.Second) {
		network()
	} else {
		say("eth0=absent")
	}
	vsock()
	if rng, err := os.Open("/dev/hwrng"); err == nil {
		buf := make([]byte, 16)
		n, err := rng.Read(buf)
		say("hwrng_bytes=%d err=%v", n, err)
		rng.Close()
	}
	if b, err := os.ReadFile("/proc/interrupts"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "ttyS") || strings.Contains(l, "virtio") || strings.Contains(l, "CPU0") {
				say("interrupts=%s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
	if b, err := os.ReadFile("/proc/consoles"); err == nil {
		say("consoles=%q", strings.TrimSpace(string(b)))
	}
	if tty, err := os.OpenFile("/dev/ttyS0", os.O_WRONLY, 0); err == nil {
		_, err := tty.WriteString("testguest: ttyS0 direct\n")
		say("ttyS0_write_err=%v", err)
		time.Sleep(time.Second)
		tty.Close()
	} else {
		say("ttyS0_open_err=%v", err)
	}
	if fi, err := os.Stdout.Stat(); err == nil {
		say("stdout_mode=%v", fi.Mode())
	} else {
		say("stdout_stat_err=%v", err)
	}
	say("done")
	if cmdline, _ := os.ReadFile("/proc/cmdline"); strings.Contains(string(cmdline), "testguest.powerbutton") {
		waitPowerButton()
	}
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		say("error=reboot: %v", err)
	}
	select {}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func memTotal() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb int
		if n, _ := fmt.Sscanf(s.Text(), "MemTotal: %d kB", &kb); n == 1 {
			return kb
		}
	}
	return -1
}

func loadModules() {
	order, err := os.ReadFile("/modules/order")
	if err != nil {
		return
	}
	for _, name := range strings.Fields(string(order)) {
		f, err := os.Open(filepath.Join("/modules", name+".ko"))
		if err != nil {
			say("error=module %s: %v", name, err)
			continue
		}
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
			say("error=module %s: %v", name, err)
		}
		f.Close()
	}
	say("modules=loaded")
}

func waitFor(path string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	return false
}

func disk() {
	os.MkdirAll("/mnt", 0o755)
	if err := unix.Mount("/dev/vda", "/mnt", "ext4", 0, ""); err != nil {
		say("error=mount /dev/vda: %v", err)
		return
	}
	in, err := os.ReadFile("/mnt/input.txt")
	say("input=%q err=%v", strings.TrimSpace(string(in)), err)
	if err := os.WriteFile("/mnt/output.txt", []byte("written by the guest\n"), 0o644); err != nil {
		say("error=write: %v", err)
	}
	if err := unix.Unmount("/mnt", 0); err != nil {
		say("error=umount: %v", err)
	}
	say("disk=ok")
}

// network brings eth0 up as 10.99.1.2/24 and exchanges a UDP datagram
// with the host side of the tap, 10.99.1.1:7777, which echoes it.
func network() {
	link, err := netlink.LinkByName("eth0")
	if err == nil {
		addr, _ := netlink.ParseAddr("10.99.1.2/24")
		err = netlink.AddrAdd(link, addr)
	}
	if err == nil {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		say("error=eth0: %v", err)
		return
	}
	conn, err := net.Dial("udp", "10.99.1.1:7777")
	if err != nil {
		say("error=dial: %v", err)
		return
	}
	defer conn.Close()
	buf := make([]byte, 64)
	for try := 0; try < 20; try++ {
		conn.Write([]byte("ping from the guest"))
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, err := conn.Read(buf); err == nil {
			say("net_reply=%q", buf[:n])
			return
		}
	}
	say("error=no UDP reply from 10.99.1.1")
}

// vsock connects to the host (CID 2) on port 5000, sends a line and
// reports the host's answer.
func vsock() {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		say("vsock=unavailable (%v)", err)
		return
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrVM{CID: unix.VMADDR_CID_HOST, Port: 5000}); err != nil {
		say("error=vsock connect: %v", err)
		return
	}
	if _, err := unix.Write(fd, []byte("vsock hello")); err != nil {
		say("error=vsock write: %v", err)
		return
	}
	buf := make([]byte, 64)
	n, err := unix.Read(fd, buf)
	if err != nil {
		say("error=vsock read: %v", err)
		return
	}
	say("vsock_reply=%q", buf[:n])
}

// waitPowerButton blocks until an input device reports KEY_POWER, as
// systemd-logind would wait for it, and returns so that init powers off.
func waitPowerButton() {
	const evKey, keyPower = 1, 116
	devs, _ := filepath.Glob("/dev/input/event*")
	if len(devs) == 0 {
		say("error=no input devices for the power button")
		return
	}
	pressed := make(chan string, len(devs))
	for _, d := range devs {
		f, err := os.Open(d)
		if err != nil {
			continue
		}
		go func() {
			var ev [24]byte // struct input_event: timeval, type u16, code u16, value s32
			for {
				if _, err := io.ReadFull(f, ev[:]); err != nil {
					return
				}
				typ, code := binary.LittleEndian.Uint16(ev[16:]), binary.LittleEndian.Uint16(ev[18:])
				if typ == evKey && code == keyPower && binary.LittleEndian.Uint32(ev[20:]) == 1 {
					pressed <- d
					return
				}
			}
		}()
	}
	say("waiting for the power button (%d input devices)", len(devs))
	say("power button pressed on %s", <-pressed)
}
