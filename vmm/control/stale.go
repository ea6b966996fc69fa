package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A VM process that dies without cleaning up (SIGKILL, the OOM killer, a
// host crash) leaves its state directory behind: the socket file stays,
// but nothing listens on it any more. The process records who it is in
// the directory's pid file,
//
//	PID STARTTIME\n
//
// STARTTIME being field 22 of /proc/PID/stat (clock ticks after boot), so
// that a PID the kernel has since given to another process is not taken
// for the VM's. Probe reads both the socket and the pid file.

const pidFile = "pid"

// Status is what a VM's state directory says about its process.
type Status int

const (
	// Running: the control socket answers.
	Running Status = iota + 1
	// Dead: the VM's process is gone; the directory is stale.
	Dead
	// Unresponsive: the process lives but its socket does not answer.
	Unresponsive
)

func (s Status) String() string {
	switch s {
	case Running:
		return "running"
	case Dead:
		return "dead"
	case Unresponsive:
		return "unresponsive"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// writePID records the calling process in dir.
func writePID(dir string) error {
	pid := os.Getpid()
	start, err := startTime(pid)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, pidFile), fmt.Appendf(nil, "%d %d\n", pid, start), 0o600)
}

// startTime is field 22 of /proc/PID/stat: when the process started, in
// clock ticks after boot.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after the last ')' start at field 3.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// zombie reports whether process pid has exited and waits to be reaped
// (state Z or X in /proc/PID/stat): it holds no file, so no socket.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// readPID returns the process a state directory names, 0 if none.
func readPID(dir string) (pid int, start uint64) {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0, 0
	}
	if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err != nil || pid <= 0 {
		return 0, 0
	}
	return pid, start
}

// Probe tells whether VM name is running, dead or unresponsive, with the
// PID of its process (0 when its directory names none). An error wrapping
// ErrNotRunning means there is no such VM at all.
func Probe(root, name string) (Status, int, error) {
	dir := Dir(root, name)
	if _, err := os.Stat(dir); err != nil {
		return 0, 0, fmt.Errorf("vm %q: %w (%w)", name, ErrNotRunning, err)
	}
	pid, start := readPID(dir)
	alive := false
	if pid != 0 {
		s, err := startTime(pid)
		alive = err == nil && s == start && !zombie(pid)
	}
	c, err := net.DialTimeout("unix", SocketPath(root, name), time.Second)
	switch {
	case err == nil:
		c.Close()
		return Running, pid, nil
	case alive:
		return Unresponsive, pid, nil
	case pid != 0:
		return Dead, pid, nil // the process named is gone
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist):
		return Dead, 0, nil // nothing listens, and no process is named
	}
	return Unresponsive, 0, nil
}

// RemoveStale removes VM name's state directory if its process is dead,
// and returns that process's PID (0 if the directory named none). It
// refuses, changing nothing, when the VM is running or unresponsive.
func RemoveStale(root, name string) (int, error) {
	st, pid, err := Probe(root, name)
	if err != nil {
		return 0, err
	}
	if st != Dead {
		return pid, fmt.Errorf("vm %q is %s (pid %d); not removing its state", name, st, pid)
	}
	if err := os.RemoveAll(Dir(root, name)); err != nil {
		return pid, fmt.Errorf("vm %q: removing its stale state: %w", name, err)
	}
	return pid, nil
}
