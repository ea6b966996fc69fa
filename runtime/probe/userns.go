package probe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func probeUserNamespaces(o *options) UserNamespaces {
	u := UserNamespaces{
		MaxUserNamespaces: readInt("/proc/sys/user/max_user_namespaces"),
		UnprivilegedClone: readInt("/proc/sys/kernel/unprivileged_userns_clone"),
		AppArmorRestrict:  readInt("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
		User:              o.user,
		UID:               -1,
		NewUIDMap:         findHelper("newuidmap"),
		NewGIDMap:         findHelper("newgidmap"),
	}
	if os.Geteuid() == 0 {
		u.UnprivilegedUID = o.unprivilegedUID
		u.Unprivileged = tryAsUser(o.unprivilegedUID)
	} else {
		u.UnprivilegedUID = os.Geteuid()
		u.Unprivileged = tryExecFails("clone(CLONE_NEWUSER)", unix.CLONE_NEWUSER, false)
	}
	var names []string
	if o.user != "" {
		names = append(names, o.user)
		if pw, err := user.Lookup(o.user); err == nil {
			u.UID, _ = strconv.Atoi(pw.Uid)
			names = append(names, pw.Uid)
		}
	}
	var err1, err2 error
	u.SubUID, err1 = readSubIDs("/etc/subuid", names)
	u.SubGID, err2 = readSubIDs("/etc/subgid", names)
	if err := errors.Join(err1, err2); err != nil {
		u.SubIDErr = err.Error()
	}
	return u
}

// tryAsUser drops one thread to uid and gid (setresuid(2) and friends act
// on the calling thread only when made as raw system calls) and clones a
// child with CLONE_NEWUSER from it. The thread is locked and never
// unlocked, so it exits with the goroutine instead of running other Go
// code as nobody.
func tryAsUser(uid int) Outcome {
	call := "clone(CLONE_NEWUSER) as uid " + strconv.Itoa(uid)
	done := make(chan Outcome)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's credentials change
		o := Outcome{Call: call}
		id := uintptr(uid)
		for _, c := range []struct {
			name string
			nr   uintptr
			args [3]uintptr
		}{
			{"setgroups", unix.SYS_SETGROUPS, [3]uintptr{0, 0, 0}},
			{"setresgid", unix.SYS_SETRESGID, [3]uintptr{id, id, id}},
			{"setresuid", unix.SYS_SETRESUID, [3]uintptr{id, id, id}},
		} {
			if _, _, errno := unix.RawSyscall(c.nr, c.args[0], c.args[1], c.args[2]); errno != 0 {
				o.fail(os.NewSyscallError(c.name, errno))
				done <- o
				return
			}
		}
		done <- tryExecFails(call, unix.CLONE_NEWUSER, false)
	}()
	return <-done
}

// findHelper looks for an id-mapping helper in $PATH and the sbin
// directories sudo may leave out of it.
func findHelper(name string) Helper {
	h := Helper{Name: name}
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
			if _, err := os.Stat(dir + "/" + name); err == nil {
				path = dir + "/" + name
				break
			}
		}
	}
	if path == "" {
		return h
	}
	h.Path = path
	if fi, err := os.Stat(path); err == nil {
		st, ok := fi.Sys().(*syscall.Stat_t)
		h.Setuid = fi.Mode()&os.ModeSetuid != 0 && ok && st.Uid == 0
	}
	if n, err := unix.Getxattr(path, "security.capability", nil); err == nil && n > 0 {
		h.FileCaps = true
	}
	return h
}

// readSubIDs returns the ranges of /etc/subuid-format file name whose
// first field is one of names (a user name or uid). A missing file means
// no ranges, not an error.
func readSubIDs(name string, names []string) ([]IDRange, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseSubIDs(f, name, names)
}

func parseSubIDs(f interface{ Read([]byte) (int, error) }, name string, names []string) ([]IDRange, error) {
	var out []IDRange
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ":")
		if len(fields) != 3 {
			return out, fmt.Errorf("%s:%d: want user:start:count, got %q", name, line, text)
		}
		match := false
		for _, n := range names {
			match = match || fields[0] == n
		}
		if !match {
			continue
		}
		start, err1 := strconv.ParseUint(fields[1], 10, 32)
		count, err2 := strconv.ParseUint(fields[2], 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return out, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, IDRange{Start: uint32(start), Count: uint32(count)})
	}
	return out, sc.Err()
}
