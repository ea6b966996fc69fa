package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Block I/O limits on a real block device: the virtio disk of the test VM
// (read only), or on the host a loop device of the test's own.

// blockDevice reads a disk's major:minor from /sys/block/NAME/dev.
func blockDevice(t *testing.T, name string) (major, minor int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/block", name, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &major, &minor); err != nil {
		t.Fatalf("/sys/block/%s/dev: %q: %v", name, b, err)
	}
	return major, minor
}

// loopDevice attaches a 4 MiB file of the test's own to a free loop
// device (LOOP_CTL_GET_FREE, LOOP_SET_FD) and detaches it (LOOP_CLR_FD)
// when the test ends, checking that it did.
func loopDevice(t *testing.T) (dev string, major, minor int64) {
	t.Helper()
	backing := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(backing, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no loop devices: %v", err)
	}
	defer ctl.Close()
	existed, _ := filepath.Glob("/sys/block/loop*")
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		t.Fatalf("LOOP_CTL_GET_FREE: %v", err)
	}
	dev = fmt.Sprintf("/dev/loop%d", n)
	if !slices.Contains(existed, fmt.Sprintf("/sys/block/loop%d", n)) {
		// GET_FREE made a new loop device: take it away again (this
		// cleanup runs after the detach below).
		t.Cleanup(func() {
			ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer ctl.Close()
			if err := unix.IoctlSetInt(int(ctl.Fd()), unix.LOOP_CTL_REMOVE, n); err != nil {
				t.Errorf("LOOP_CTL_REMOVE %d: %v", n, err)
			}
		})
	}
	loop, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.OpenFile(backing, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		loop.Close()
		t.Fatal(err)
	}
	err = unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_SET_FD, int(file.Fd()))
	file.Close()
	if err != nil {
		loop.Close()
		t.Fatalf("LOOP_SET_FD %s: %v", dev, err)
	}
	t.Cleanup(func() {
		// With the device still open, the kernel detaches it at the
		// last close.
		err := unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_CLR_FD, 0)
		loop.Close()
		if err != nil {
			t.Errorf("LOOP_CLR_FD %s: %v", dev, err)
		}
		if b, err := os.ReadFile(fmt.Sprintf("/sys/block/loop%d/loop/backing_file", n)); err == nil {
			t.Errorf("%s still attached to %s", dev, b)
		}
	})
	major, minor = blockDevice(t, filepath.Base(dev))
	return dev, major, minor
}

// readBytes sums the bytes read from one device in the cgroup's stats
// (io.stat rbytes on v2, blkio.throttle.io_service_bytes_recursive on v1).
func readBytes(t *testing.T, m Manager, major, minor int64) uint64 {
	t.Helper()
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, e := range st.Blkio.IoServiceBytesRecursive {
		if e.Major == uint64(major) && e.Minor == uint64(minor) && strings.EqualFold(e.Op, "read") {
			n += e.Value
		}
	}
	return n
}

// testReadThrottle limits one cgroup's reads of the device to 1 KiB/s and
// runs the same 1 MiB O_DIRECT read in it and in a sibling without a
// limit. Not a timing assertion but an ordering one: the free read ends
// while the throttled one (which would take about 17 minutes) still
// waits, having read less than 1 MiB. Lifting the limit live lets it end.
func testReadThrottle(t *testing.T, h *Host, v2 bool, dev string, major, minor int64) {
	limit := func(rate uint64) *specs.LinuxResources {
		return &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: rate}}}}
	}
	slow, free := newManager(t, h), newManager(t, h)
	if err := slow.Set(limit(1024)); err != nil {
		t.Fatal(err)
	}
	file, want := "blkio.throttle.read_bps_device", fmt.Sprintf("%d:%d 1024", major, minor)
	dir := slow.Paths()["blkio"]
	if v2 {
		file, want, dir = "io.max", fmt.Sprintf("%d:%d rbps=1024 wbps=max riops=max wiops=max", major, minor), slow.Paths()[""]
	}
	if got, err := readFile(dir, file); err != nil || got != want {
		t.Fatalf("%s reads back %q (%v), want %q", file, got, err, want)
	}
	// The free cgroup needs the io controller's files too (v2).
	if err := free.Set(limit(0)); err != nil {
		t.Fatal(err)
	}

	const script = "dd if=%s of=/dev/null bs=64k count=16 skip=%d iflag=direct 2>&1"
	throttled := start(t, slow, v2, fmt.Sprintf(script, dev, 0))
	// Cleanups run last first: this one, before start's kill, lets the
	// read out of the throttle queue (a task waiting for its direct I/O
	// does not die of SIGKILL before the I/O ends).
	t.Cleanup(func() { slow.Set(limit(0)) })
	unthrottled := start(t, free, v2, fmt.Sprintf(script, dev, 32))
	if err := unthrottled.wait(t); err != nil {
		t.Fatalf("unthrottled read: %v: %s", err, unthrottled.output())
	}
	select {
	case <-throttled.done:
		t.Fatalf("the read limited to 1 KiB/s ended as soon as the free one: %s", throttled.output())
	default:
	}
	if n := readBytes(t, free, major, minor); n < 1<<20 {
		t.Errorf("the free cgroup's stats count %d bytes read from %d:%d, want at least 1 MiB", n, major, minor)
	}
	if n := readBytes(t, slow, major, minor); n >= 1<<20 {
		t.Errorf("the throttled cgroup's stats count %d bytes read, want less than 1 MiB", n)
	}

	// Update: rate 0 lifts the limit, and the waiting read completes.
	if err := slow.Set(limit(0)); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFile(dir, file); strings.Contains(got, fmt.Sprintf("%d:%d", major, minor)) && strings.Contains(got, "1024") {
		t.Errorf("after lifting the limit %s reads %q", file, got)
	}
	if err := throttled.wait(t); err != nil {
		t.Fatalf("throttled read after the limit was lifted: %v: %s", err, throttled.output())
	}
}

func TestV1ReadThrottle(t *testing.T) {
	h := hostV1(t)
	dev, major, minor := loopDevice(t)
	testReadThrottle(t, h, false, dev, major, minor)
}

func TestV2ReadThrottle(t *testing.T) {
	h := hostV2(t)
	major, minor := blockDevice(t, "vda")
	testReadThrottle(t, h, true, "/dev/vda", major, minor)
}

// TestV2IOWeight: blockIO.weight and weightDevice on the VM's disk, read
// back from io.weight (blk-iocost, switched on for the disk through the
// root's io.cost.qos for the test) and, where the kernel has BFQ, from
// io.bfq.weight with the disk on the BFQ scheduler.
func TestV2IOWeight(t *testing.T) {
	h := hostV2(t)
	major, minor := blockDevice(t, "vda")
	dev := fmt.Sprintf("%d:%d", major, minor)
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		Weight:       ptr(uint16(500)),
		WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Weight: ptr(uint16(300))}},
	}}
	t.Run("iocost", func(t *testing.T) {
		if err := writeFile(h.Unified, "io.cost.qos", dev+" enable=1"); err != nil {
			t.Fatalf("switch blk-iocost on for %s: %v", dev, err)
		}
		t.Cleanup(func() {
			if err := writeFile(h.Unified, "io.cost.qos", dev+" enable=0"); err != nil {
				t.Errorf("switch blk-iocost off again: %v", err)
			}
		})
		m := newManager(t, h)
		if err := m.Set(r); err != nil {
			t.Fatal(err)
		}
		got, err := readFile(m.Paths()[""], "io.weight")
		want := fmt.Sprintf("default %d\n%s %d", BlkioWeightToIOWeight(500), dev, BlkioWeightToIOWeight(300))
		if err != nil || got != want {
			t.Errorf("io.weight = %q (%v), want %q", got, err, want)
		}
	})
	t.Run("bfq", func(t *testing.T) {
		sched := filepath.Join("/sys/block/vda/queue/scheduler")
		cur, err := os.ReadFile(sched)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cur), "bfq") {
			t.Skipf("this kernel offers no BFQ for vda (%s: %q): the test VM does not load the bfq module", sched, cur)
		}
		before := string(cur[strings.IndexByte(string(cur), '[')+1 : strings.IndexByte(string(cur), ']')])
		if err := os.WriteFile(sched, []byte("bfq"), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.WriteFile(sched, []byte(before), 0); err != nil {
				t.Errorf("restore the %s scheduler: %v", before, err)
			}
		})
		m := newManager(t, h)
		if err := m.Set(r); err != nil {
			t.Fatal(err)
		}
		got, err := readFile(m.Paths()[""], "io.bfq.weight")
		if want := fmt.Sprintf("default 500\n%s 300", dev); err != nil || got != want {
			t.Errorf("io.bfq.weight = %q (%v), want %q", got, err, want)
		}
	})
}
