package hull_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The subtests of TestContainerCLI about a container's output and
// terminal.

func cliLogsRotation(t *testing.T, c *cli) {
	c.t = t
	// 36 lines of about 140 bytes a record, in blocks of three a
	// third of a second apart: rotated every 7 or so, 3 files kept.
	id := strings.TrimSpace(c.ok("run", "-d", "--network", "none", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", c.image, "sh", "-c",
		`sleep 0.5; i=0; while [ $i -lt 12 ]; do for j in a b c; do echo "line $i$j $(busybox seq -s . 40)"; done; i=$((i+1)); sleep 0.3; done; echo done`))
	var want []string
	for i := range 12 {
		for _, j := range []string{"a", "b", "c"} {
			want = append(want, fmt.Sprintf("line %d%s 1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32.33.34.35.36.37.38.39.40", i, j))
		}
	}
	want = append(want, "done")
	// logs -f started before the first line follows every rotation.
	if got := c.ok("logs", "-f", id); got != strings.Join(want, "\n")+"\n" {
		t.Errorf("logs -f across rotations:\n%s", got)
	}
	ins := c.inspect(id)
	for _, f := range []string{"ctr.log", "ctr.log.1", "ctr.log.2"} {
		if fi, err := os.Stat(filepath.Join(ins.Dir, f)); err != nil || fi.Size() > 1024+200 {
			t.Errorf("%s: %v (%v bytes)", f, err, fi)
		}
	}
	if _, err := os.Stat(filepath.Join(ins.Dir, "ctr.log.3")); err == nil {
		t.Errorf("ctr.log.3 kept with max-file=3")
	}
	// What is kept is the end of the output, in order.
	kept := strings.Split(strings.TrimSuffix(c.ok("logs", id), "\n"), "\n")
	if len(kept) >= len(want) || len(kept) < 10 || strings.Join(kept, "\n") != strings.Join(want[len(want)-len(kept):], "\n") {
		t.Errorf("logs after rotation kept %d lines:\n%s", len(kept), strings.Join(kept, "\n"))
	}
	// -t: each line begins with its time; --since one of them
	// starts there.
	stamped := strings.Split(strings.TrimSuffix(c.ok("logs", "-t", id), "\n"), "\n")
	var times []time.Time
	for i, l := range stamped {
		ts, rest, _ := strings.Cut(l, " ")
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || rest != kept[i] || i > 0 && tm.Before(times[i-1]) {
			t.Fatalf("logs -t line %d: %q (%v)", i, l, err)
		}
		times = append(times, tm)
	}
	mid := len(times) - 4 // the first line of the last block
	for mid > 0 && times[mid-1].Equal(times[mid]) {
		mid--
	}
	if got := c.ok("logs", "--since", times[mid].Format(time.RFC3339Nano), id); got != strings.Join(kept[mid:], "\n")+"\n" {
		t.Errorf("logs --since %s = %q, want from line %d", times[mid].Format(time.RFC3339Nano), got, mid)
	}
	if got := c.ok("logs", "--since", "1h", "-n", "2", id); got != strings.Join(want[len(want)-2:], "\n")+"\n" {
		t.Errorf("logs --since 1h -n 2 = %q", got)
	}
	if _, err := c.try("run", "-d", "--log-opt", "max-sise=1k", c.image); err == nil || !strings.Contains(err.Error(), "max-sise") {
		t.Errorf("--log-opt max-sise=1k: %v", err)
	}
	c.ok("rm", id)
	c.assertClean(id)
}

func cliTerminalResize(t *testing.T, c *cli) {
	c.t = t
	master, slave := openPty(t)
	setSize := func(rows, cols uint16) {
		if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
			t.Fatal(err)
		}
	}
	setSize(30, 100)
	cmd := c.cmd("run", "--rm", "-it", "--network", "none", c.image, "sh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// until asks stty for the size until it is want.
	until := func(want string) {
		t.Helper()
		for range 100 {
			master.Write([]byte("busybox stty size\n"))
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			got := strings.Contains(screen.String(), "\r\n"+want+"\r\n")
			mu.Unlock()
			if got {
				return
			}
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("stty size never printed %q:\n%s", want, screen.String())
	}
	until("30 100")
	// The window changes, hull gets SIGWINCH (from the terminal,
	// were it hull's controlling one), and so does the container.
	setSize(40, 120)
	cmd.Process.Signal(unix.SIGWINCH)
	until("40 120")
	master.Write([]byte("exit 3\n"))
	if err := cmd.Wait(); err == nil || err.(*exec.ExitError).ExitCode() != 3 {
		t.Errorf("run -it ... exit 3: %v", err)
	}
	master.Close()
	c.assertClean()
}

// openPty opens a pseudo-terminal pair: what is written to the master is
// typed on the slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, sl
}
