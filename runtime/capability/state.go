package capability

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// Last returns the highest capability the running kernel knows, read once
// from /proc/sys/kernel/cap_last_cap. If that cannot be read (no /proc) it
// returns the highest capability this package knows, CAP_CHECKPOINT_RESTORE.
// A container's init should call it before pivot_root, while the host's
// /proc is still there; the functions here cope with the fallback anyway.
func Last() Cap { return last() }

var last = sync.OnceValue(func() Cap {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return maxKnown
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return maxKnown
	}
	return Cap(n)
})

// All returns every capability the running kernel knows.
func All() Set { return Set(1)<<(uint(Last())+1) - 1 }

// State is the five capability sets of a thread.
//
//   - Bounding limits what the thread and its children can ever gain:
//     execve can put only bounding capabilities into the permitted set.
//   - Permitted is what the thread may have; dropped, a capability cannot
//     come back.
//   - Effective is what the kernel checks; a subset of Permitted.
//   - Inheritable is what a file's inheritable capabilities may keep
//     across execve.
//   - Ambient (Linux 4.3) is kept across execve of a program without file
//     capabilities, and becomes its permitted and effective sets: how a
//     non-root process gets capabilities. Each must be permitted and
//     inheritable.
type State struct {
	Bounding, Effective, Permitted, Inheritable, Ambient Set
}

// String prints the sets one a line, in the order Apply sets them.
func (s State) String() string {
	return fmt.Sprintf("bounding: %v\neffective: %v\npermitted: %v\ninheritable: %v\nambient: %v",
		s.Bounding, s.Effective, s.Permitted, s.Inheritable, s.Ambient)
}

// FromSpec parses process.capabilities. Every unknown name is reported with
// its field ("process.capabilities.bounding[3]: unknown capability
// \"CAP_FOO\""). A nil c is the empty state: no capabilities at all.
func FromSpec(c *specs.LinuxCapabilities) (State, error) {
	var st State
	if c == nil {
		return st, nil
	}
	var errs []error
	for _, f := range []struct {
		field string
		names []string
		set   *Set
	}{
		{"bounding", c.Bounding, &st.Bounding},
		{"effective", c.Effective, &st.Effective},
		{"permitted", c.Permitted, &st.Permitted},
		{"inheritable", c.Inheritable, &st.Inheritable},
		{"ambient", c.Ambient, &st.Ambient},
	} {
		s, err := Parse(f.names)
		if err != nil {
			errs = append(errs, prefixErrors("process.capabilities."+f.field, err))
		}
		*f.set = s
	}
	return st, errors.Join(errs...)
}

// prefixErrors puts field before each of the joined errors of err.
func prefixErrors(field string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = append(errs, fmt.Errorf("%s%w", field, e))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("%s%w", field, err)
}

// ReadStatus reads the capability sets of a process (pid) or thread
// ("pid/task/tid") from /proc/<which>/status: CapInh, CapPrm, CapEff, CapBnd
// and CapAmb, the kernel's own view.
func ReadStatus(which string) (State, error) {
	path := "/proc/" + which + "/status"
	f, err := os.Open(path)
	if err != nil {
		return State{}, err
	}
	defer f.Close()
	st, err := ParseStatus(f)
	if err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// ParseStatus reads the Cap* lines of a /proc/<pid>/status file.
func ParseStatus(r io.Reader) (State, error) {
	var st State
	fields := map[string]*Set{"CapInh": &st.Inheritable, "CapPrm": &st.Permitted, "CapEff": &st.Effective, "CapBnd": &st.Bounding, "CapAmb": &st.Ambient}
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		set, want := fields[key]
		if !ok || !want {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		if err != nil {
			return State{}, fmt.Errorf("%s: %w", key, err)
		}
		*set = Set(v)
		found++
	}
	if err := sc.Err(); err != nil {
		return State{}, err
	}
	if found != len(fields) {
		return State{}, fmt.Errorf("found %d of the 5 Cap* lines", found)
	}
	return st, nil
}
