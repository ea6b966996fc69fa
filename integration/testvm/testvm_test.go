package testvm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCPIORoundTrip writes an archive with every kind of entry the
// initramfs uses and unpacks it with GNU cpio, the reference reader.
func TestCPIORoundTrip(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Fatal("cpio is needed to check the writer (make deps)")
	}
	src := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(src, bytes.Repeat([]byte("hull"), 1001), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newCPIO()
	a.Dir("etc", 0o755)
	a.Bytes("etc/hostname", []byte("vm\n"), 0o600)
	if err := a.File("deep/er/data", src, 0o751); err != nil {
		t.Fatal(err)
	}
	a.Symlink("bin/sh", "busybox")
	a.CharDevice("dev/console", 0o600, 5, 1)
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	dir := t.TempDir()
	cmd := exec.Command("cpio", "-idm", "--quiet", "--no-absolute-filenames")
	cmd.Dir, cmd.Stdin = dir, &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{"etc", os.ModeDir | 0o755},
		{"etc/hostname", 0o600},
		{"deep/er/data", 0o751},
		{"bin/sh", os.ModeSymlink | 0o777},
		{"dev/console", os.ModeDevice | os.ModeCharDevice | 0o600},
	} {
		fi, err := os.Lstat(filepath.Join(dir, c.path))
		if err != nil {
			t.Errorf("unpacked archive lacks %s: %v", c.path, err)
			continue
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "deep/er/data")); !bytes.Equal(b, bytes.Repeat([]byte("hull"), 1001)) {
		t.Errorf("deep/er/data: %d bytes differ from the source", len(b))
	}
	if l, _ := os.Readlink(filepath.Join(dir, "bin/sh")); l != "busybox" {
		t.Errorf("bin/sh -> %q, want busybox", l)
	}
}

// TestResolveModules reads the real kernel package's modules: each comes
// after everything it depends on.
func TestResolveModules(t *testing.T) {
	Require(t, Root)
	if InGuest() {
		t.Skip("the kernel package is on the host")
	}
	k, err := FindKernel(context.Background(), DefaultCacheDir())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := indexModules(k.ModuleDir())
	if err != nil {
		t.Fatal(err)
	}
	order, err := idx.resolve(BaseModules)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range order {
		names = append(names, modName(strings.TrimSuffix(filepath.Base(p), ".ko")))
	}
	before := func(a, b string) {
		ia, ib := slices.Index(names, a), slices.Index(names, b)
		if ia < 0 || ib < 0 || ia > ib {
			t.Errorf("load order %v: want %s before %s", names, a, b)
		}
	}
	before("virtio", "virtio_pci")
	before("virtio_ring", "virtio_blk")
	before("jbd2", "ext4")
	before("mbcache", "ext4")
	before("kvm", "kvm_amd")
	before("irqbypass", "kvm")
	before("nfnetlink", "nf_tables")
	before("nf_nat", "nft_chain_nat")
	before("nf_conntrack", "nf_conntrack_netlink")
	before("nft_fib_ipv4", "nft_fib_inet")
	if _, err := idx.resolve([]string{"no_such_module"}); err == nil {
		t.Error("resolving an unknown module succeeded")
	}
}

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		out  string
		want Summary
	}{
		{"", Summary{}},
		{"=== RUN   TestA\n--- PASS: TestA (0.00s)\nPASS\n", Summary{Passed: 1}},
		{"--- FAIL: TestA (0.1s)\n    --- PASS: TestA/x (0.00s)\n    --- FAIL: TestA/y (0.00s)\n--- SKIP: TestB (0.00s)\n",
			Summary{Passed: 1, Failed: 2, Skipped: 1, FailedNames: []string{"TestA", "TestA/y"}}},
		{"testing: warning: no tests to run\nPASS\n", Summary{}},
	} {
		got := Summarize(c.out)
		if got.String() != c.want.String() || !slices.Equal(got.FailedNames, c.want.FailedNames) {
			t.Errorf("Summarize(%q) = %+v, want %+v", c.out, got, c.want)
		}
	}
}

func TestPackageResultErr(t *testing.T) {
	for _, c := range []struct {
		r    PackageResult
		fail bool
	}{
		{PackageResult{Name: "p", Reported: true, Summary: Summary{Passed: 3}}, false},
		{PackageResult{Name: "p", Reported: false}, true},
		{PackageResult{Name: "p", Reported: true, Exit: 1, Summary: Summary{Passed: 2, Failed: 1}}, true},
		{PackageResult{Name: "p", Reported: true, Summary: Summary{Skipped: 4}}, true},
	} {
		if err := c.r.Err(); (err != nil) != c.fail {
			t.Errorf("%+v.Err() = %v, want failure %v", c.r, err, c.fail)
		}
	}
}

// TestGuestPanicFails boots a guest whose only job kills init: the run
// must fail with the console's tail, never pass.
func TestGuestPanicFails(t *testing.T) {
	Require(t, Root)
	if InGuest() {
		t.Skip("boots a VM of its own")
	}
	res, err := Run(context.Background(), Config{
		Jobs: []Job{{Name: "kill-init", Path: "/bin/sh", Args: []string{"-c", "kill -SEGV 1; sleep 60"}}},
	})
	if err == nil {
		t.Fatalf("a guest whose init died passed: %+v", res)
	}
	if !strings.Contains(err.Error(), "Kernel panic") {
		t.Errorf("error does not show the panic from the console: %v", err)
	}
}

// TestFrozenGuestFails pauses the emulator (qemu's monitor "stop": the
// guest's clocks and timers stop, as when the emulator itself wedges):
// the run must end early with the watchdog's diagnosis, not at the
// deadline, after booting the VM a second time, which froze too.
func TestFrozenGuestFails(t *testing.T) {
	Require(t, Root)
	if InGuest() {
		t.Skip("boots a VM of its own")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	begin := time.Now()
	var boots atomic.Int32
	var console strings.Builder
	var mu sync.Mutex
	res, err := Run(ctx, Config{
		Jobs:        []Job{{Name: "wait", Path: "/bin/sleep", Args: []string{"600"}}},
		freezeAfter: 45 * time.Second,
		Console:     lockedWriter{&mu, &console},
		started: func(monitor string) {
			boots.Add(1)
			time.Sleep(5 * time.Second)
			askMonitor(monitor, "stop")
		},
	})
	if err == nil {
		t.Fatalf("a frozen guest passed: %+v", res)
	}
	t.Log(err)
	var frozen *ErrFrozen
	if !errors.As(err, &frozen) || !strings.Contains(err.Error(), "froze") || !strings.Contains(err.Error(), "paused") {
		t.Errorf("error lacks the watchdog's diagnosis and the monitor's status: %v", err)
	}
	mu.Lock()
	said := strings.Contains(console.String(), "booting the test VM again")
	mu.Unlock()
	if n := boots.Load(); n != 2 || !said {
		t.Errorf("the test VM was booted %d times (console says so: %v), want twice: once more after the first freeze", n, said)
	}
	if ctx.Err() != nil {
		t.Errorf("the run ended at the deadline (%s), not by the watchdog", time.Since(begin).Round(time.Second))
	}
}

// Two holders of the machine's test VM lock: the second waits for the
// first, and gives up when its context ends.
func TestLockMachine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := lockMachine(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var log strings.Builder
	if u, err := lockMachine(ctx, path, &log); err == nil {
		u()
		t.Fatal("a second holder got the lock while the first held it")
	} else if !strings.Contains(log.String(), "waiting for another test VM") {
		t.Errorf("the wait was not logged: %q", log.String())
	}
	got := make(chan error, 1)
	go func() {
		u, err := lockMachine(context.Background(), path, nil)
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("after release: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the waiting holder never got the lock after release")
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
