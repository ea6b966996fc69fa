package control

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Probe tells a live VM from a dead one by its socket and the process its
// pid file names; RemoveStale removes only a dead one's directory.
func TestProbe(t *testing.T) {
	// A child process stands for a VM process: alive, then killed.
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	childStart, err := startTime(child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	// An exited process nobody has reaped yet: dead too.
	z := exec.Command("true")
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	defer z.Wait()
	zStart, err := startTime(z.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for !zombie(z.Process.Pid) {
		time.Sleep(time.Millisecond)
	}

	running, _, _ := serve(t)
	root := t.TempDir()
	mkdir := func(name, pid string) {
		t.Helper()
		if err := os.MkdirAll(Dir(root, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if pid != "" {
			os.WriteFile(filepath.Join(Dir(root, name), pidFile), []byte(pid), 0o600)
		}
	}
	mkdir("alive-child", fmt.Sprintf("%d %d\n", child.Process.Pid, childStart))
	mkdir("exited", fmt.Sprintf("%d 1\n", dead.Process.Pid))
	mkdir("zombie", fmt.Sprintf("%d %d\n", z.Process.Pid, zStart))
	// A PID now held by another process than the one that wrote it.
	mkdir("reused-pid", fmt.Sprintf("%d %d\n", os.Getpid(), childStart+1_000_000))
	mkdir("no-pid-dead-socket", "")
	ln, err := net.Listen("unix", SocketPath(root, "no-pid-dead-socket"))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the socket file stays, nobody listens: ECONNREFUSED
	mkdir("empty", "")

	for _, tt := range []struct {
		root, name string
		want       Status
		pid        int
	}{
		{running, "t1", Running, os.Getpid()},
		{root, "alive-child", Unresponsive, child.Process.Pid},
		{root, "exited", Dead, dead.Process.Pid},
		{root, "zombie", Dead, z.Process.Pid},
		{root, "reused-pid", Dead, os.Getpid()},
		{root, "no-pid-dead-socket", Dead, 0},
		{root, "empty", Dead, 0},
	} {
		st, pid, err := Probe(tt.root, tt.name)
		if err != nil || st != tt.want || pid != tt.pid {
			t.Errorf("Probe(%q) = %v, %d, %v; want %v, %d", tt.name, st, pid, err, tt.want, tt.pid)
		}
		_, err = RemoveStale(tt.root, tt.name)
		_, statErr := os.Stat(Dir(tt.root, tt.name))
		if removed := os.IsNotExist(statErr); removed != (tt.want == Dead) || (err == nil) != removed {
			t.Errorf("RemoveStale(%q) = %v; directory removed: %v, want %v", tt.name, err, removed, tt.want == Dead)
		}
	}
	if _, _, err := Probe(root, "never"); err == nil || !strings.Contains(err.Error(), "no such VM") {
		t.Errorf("Probe of a VM that never existed = %v, want no such VM", err)
	}
}
