package highertools

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// result is what one client command did.
type result struct {
	cmd    string
	stdout string
	stderr string
	code   int // exit code; -1 when the command did not run to an exit
}

func (r result) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout: %s\nstderr: %s", r.cmd, r.code, r.stdout, r.stderr)
}

// command describes one client invocation.
type command struct {
	env     []string // added to the test's environment
	stdin   string
	timeout time.Duration // default 60s
}

// run runs name with args, bounded by the command's timeout, and returns
// its output and exit code. err is set only when the command could not be
// started or ran out of time; a non-zero exit is in result.code.
func (c command) run(ctx context.Context, name string, args ...string) (result, error) {
	timeout := c.timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = strings.NewReader(c.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A client that leaves a child holding its stdout (conmon, a shim)
	// must not keep Wait from returning.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{cmd: name + " " + strings.Join(args, " "), stdout: stdout.String(), stderr: stderr.String(), code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("%s: %w after %v\n%s", r.cmd, ctx.Err(), timeout, r)
	case err != nil && !errors.As(err, &exit):
		return r, fmt.Errorf("%s: %w", r.cmd, err)
	}
	return r, nil
}

// ok runs the command and fails unless it exits 0.
func (c command) ok(ctx context.Context, name string, args ...string) (result, error) {
	r, err := c.run(ctx, name, args...)
	if err == nil && r.code != 0 {
		err = fmt.Errorf("%s", r)
	}
	return r, err
}

// randomID returns n random hex digits.
func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

// cgroupMounts returns the mount points of every cgroup hierarchy, v1 and
// v2, mapped to this process's own cgroup path in each.
func cgroupMounts() (map[string]string, error) {
	own := map[string]string{} // controllers field of /proc/self/cgroup -> path
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			own[parts[1]] = parts[2]
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			mounts[pf[4]] = own[""]
		case "cgroup":
			for key, path := range own {
				if key == "" {
					continue
				}
				if sameControllers(key, qf[2]) {
					mounts[pf[4]] = path
				}
			}
		}
	}
	return mounts, sc.Err()
}

// sameControllers reports whether the controller list of a
// /proc/self/cgroup line ("cpu,cpuacct", "name=systemd") is the one named
// in a v1 mount's super options.
func sameControllers(key, superopts string) bool {
	opts := map[string]bool{}
	for _, o := range strings.Split(superopts, ",") {
		opts[o] = true
	}
	for _, c := range strings.Split(key, ",") {
		if !opts[c] {
			return false
		}
	}
	return true
}

// cgroupParent is a cgroup of the test's own, below this process's cgroup
// in every hierarchy, under which the engines create their containers.
type cgroupParent struct {
	path    string              // as given to the engines: "/a/b/hull-highertools-x"
	created map[string][]string // mount point -> directories that did not exist, outermost first
}

// newCgroupParent picks a path below this process's cgroup in every
// hierarchy. On a v1 host each process may sit at a different depth in
// each hierarchy, but a runtime applies one cgroupsPath to all of them;
// the deepest of the process's own paths is a descendant of the others
// (checked), so a child of it is ours everywhere.
func newCgroupParent() (*cgroupParent, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	deepest := "/"
	for _, p := range mounts {
		if len(p) > len(deepest) {
			deepest = p
		}
	}
	for m, p := range mounts {
		if p != "/" && !strings.HasPrefix(deepest+"/", strings.TrimSuffix(p, "/")+"/") {
			return nil, fmt.Errorf("this process's cgroups %s (in %s) and %s share no subtree", p, m, deepest)
		}
	}
	cp := &cgroupParent{path: filepath.Join(deepest, "hull-highertools-"+randomID(8)), created: map[string][]string{}}
	// Remember which directories on the way down are not there yet: the
	// runtimes create them and leave them, Close removes them.
	for m := range mounts {
		var missing []string
		for dir := filepath.Join(m, cp.path); dir != m; dir = filepath.Dir(dir) {
			if _, err := os.Stat(dir); err == nil {
				break
			}
			missing = append([]string{dir}, missing...)
		}
		cp.created[m] = missing
	}
	return cp, nil
}

// dirs returns the directory of the parent in every hierarchy where it exists.
func (cp *cgroupParent) dirs() []string {
	var out []string
	for m := range cp.created {
		d := filepath.Join(m, cp.path)
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// leftovers returns the cgroups below the parent other than those the
// engine keeps for itself (allowed base names, e.g. podman's "conmon"),
// and every process still in any cgroup below the parent.
func (cp *cgroupParent) leftovers(allowed ...string) (cgroups []string, pids []int, err error) {
	for _, d := range cp.dirs() {
		err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() {
				return nil
			}
			procs, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(string(procs)) {
				pid, _ := strconv.Atoi(f)
				pids = append(pids, pid)
			}
			if path == d {
				return nil
			}
			rel, _ := filepath.Rel(d, path)
			for _, a := range allowed {
				if rel == a {
					return nil
				}
			}
			cgroups = append(cgroups, path)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return cgroups, uniq(pids), nil
}

func uniq(pids []int) []int {
	sort.Ints(pids)
	out := pids[:0]
	for i, p := range pids {
		if i == 0 || p != pids[i-1] {
			out = append(out, p)
		}
	}
	return out
}

// forceClean kills every process below the parent and removes its
// cgroups, deepest first, so that the next flow starts clean.
func (cp *cgroupParent) forceClean(keepParent bool) error {
	_, pids, err := cp.leftovers()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	var errs []error
	for _, d := range cp.dirs() {
		var all []string
		_ = filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() && (path != d || !keepParent) {
				all = append(all, path)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			if err := rmdirRetry(all[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Close removes the parent and the directories above it that the engines
// created; a directory some other process uses meanwhile stays.
func (cp *cgroupParent) Close() error {
	if err := cp.forceClean(false); err != nil {
		return err
	}
	for _, missing := range cp.created {
		for i := len(missing) - 1; i >= 0; i-- {
			err := unix.Rmdir(missing[i])
			if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
				return fmt.Errorf("rmdir %s: %w", missing[i], err)
			}
		}
	}
	return nil
}

// rmdirRetry removes a cgroup directory; a cgroup whose last process was
// just killed stays busy until the kernel has reaped it.
func rmdirRetry(dir string) error {
	var err error
	for range 50 {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &os.PathError{Op: "rmdir", Path: dir, Err: err}
}

// mountsUnder returns the mount points at or below dir.
func mountsUnder(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out, nil
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(mounts[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, &os.PathError{Op: "umount", Path: mounts[i], Err: err})
		}
	}
	return errors.Join(errs...)
}

// processesMentioning returns the live processes (other than this one and
// those in skip) whose command line contains any of the strings: conmon,
// shims and daemons carry the test's directories and container IDs there.
func processesMentioning(skip map[int]bool, needles ...string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || skip[pid] {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmdline := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		for _, n := range needles {
			if n != "" && strings.Contains(cmdline, n) {
				out = append(out, fmt.Sprintf("%d %s", pid, cmdline))
				break
			}
		}
	}
	return out
}

// killProcessesMentioning kills what processesMentioning finds.
func killProcessesMentioning(skip map[int]bool, needles ...string) {
	for _, p := range processesMentioning(skip, needles...) {
		pid, _ := strconv.Atoi(strings.Fields(p)[0])
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// cgroupOf returns the cgroup directory of pid in the hierarchy holding
// the controller (v1), or its v2 cgroup when there is no such hierarchy.
func cgroupOf(pid int, controller string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	var v2 string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			v2 = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return filepath.Join("/sys/fs/cgroup", parts[1], parts[2]), nil
			}
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil && v2 != "" {
		return filepath.Join("/sys/fs/cgroup", v2), nil
	}
	return "", fmt.Errorf("pid %d: no %s cgroup", pid, controller)
}

// frozen reports whether the freezer holds pid's cgroup frozen (v1
// freezer.state, or v2 cgroup.events "frozen 1").
func frozen(pid int) (bool, error) {
	dir, err := cgroupOf(pid, "freezer")
	if err != nil {
		return false, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "freezer.state")); err == nil {
		return strings.TrimSpace(string(b)) == "FROZEN", nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	return strings.Contains(string(b), "frozen 1"), nil
}

// pidsInCgroupOf returns every process in pid's cgroup (pids controller).
func pidsInCgroupOf(pid int) ([]int, error) {
	dir, err := cgroupOf(pid, "pids")
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		p, _ := strconv.Atoi(f)
		out = append(out, p)
	}
	return out, nil
}

// eventually polls cond every 100ms until it holds or ctx or the limit ends.
func eventually(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
