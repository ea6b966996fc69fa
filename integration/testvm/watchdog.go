package testvm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/integration/testvm/protocol"
)

// FreezeAfter is how long the guest may go without a heartbeat (its init
// writes one every protocol.HeartbeatInterval seconds once its jobs start)
// before the host counts the emulator as frozen and stops it. Boot and the
// payload's mount come before the first heartbeat, and take well under a
// minute even on a loaded machine.
const FreezeAfter = 4 * time.Minute

// watchdog records when the guest last showed it was alive.
type watchdog struct {
	after time.Duration
	mu    sync.Mutex
	last  time.Time
}

func newWatchdog(start time.Time, after time.Duration) *watchdog {
	if after == 0 {
		after = FreezeAfter
	}
	return &watchdog{after: after, last: start}
}

// filter passes the console's lines on to w, except heartbeats, which it
// records.
func (d *watchdog) filter(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte(protocol.Heartbeat)) {
			d.mu.Lock()
			d.last = time.Now()
			d.mu.Unlock()
			return len(p), nil
		}
		return w.Write(p)
	})
}

// wait returns how long the guest had been silent once that exceeds
// d.after, or false when ctx or done ends first.
func (d *watchdog) wait(ctx context.Context, done <-chan struct{}) (time.Duration, bool) {
	tick := time.NewTicker(min(5*time.Second, d.after/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, false
		case <-done:
			return 0, false
		case <-tick.C:
		}
		d.mu.Lock()
		silent := time.Since(d.last)
		d.mu.Unlock()
		if silent > d.after {
			return silent, true
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// askMonitor sends commands to qemu's human monitor on sock and returns
// what it answered within a few seconds (a frozen emulator may not).
func askMonitor(sock string, cmds ...string) string {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return fmt.Sprintf("(monitor: %v)", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for _, cmd := range cmds {
		if _, err := io.WriteString(c, cmd+"\n"); err != nil {
			break
		}
	}
	var out bytes.Buffer
	_, _ = io.Copy(&out, c) // until the deadline
	// Keep the answers: not the monitor's prompt and line editing, nor
	// the FPU and SSE registers.
	var b strings.Builder
	for _, l := range strings.Split(strings.ReplaceAll(out.String(), "\r", ""), "\n") {
		if l == "" || strings.HasPrefix(l, "(qemu)") || strings.HasPrefix(l, "QEMU ") ||
			strings.HasPrefix(l, "FPR") || strings.HasPrefix(l, "XMM") {
			continue
		}
		b.WriteString(l + "\n")
	}
	if b.Len() == 0 {
		return "(monitor: no answer in 5 s)"
	}
	return b.String()
}

// machineLock is the file whose flock a running test VM holds.
var machineLock = filepath.Join(os.TempDir(), "hull-testvm.lock")

// lockMachine waits, until ctx ends, for an exclusive flock on path (the
// machine-wide test VM lock is machineLock) and returns its release. The
// wait is logged to console when there is one.
func lockMachine(ctx context.Context, path string, console io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return nil, fmt.Errorf("test VM lock %s: %w", path, err)
	}
	release := func() { f.Close() } // closing drops the flock
	logged := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return release, nil
		}
		if err != unix.EWOULDBLOCK {
			release()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		if !logged && console != nil {
			fmt.Fprintf(console, "testvm: waiting for another test VM on this machine to finish (%s)\n", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			release()
			return nil, fmt.Errorf("waiting for another test VM (flock %s): %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
