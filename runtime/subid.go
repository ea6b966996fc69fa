package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Subordinate ids. An unprivileged user may write only one line into the
// uid_map of a user namespace it created: its own uid, once (and the same
// for gid_map, after denying setgroups). A container that needs more ids
// (a package manager chowning files to uid 100, say) gets them from
// /etc/subuid and /etc/subgid (subuid(5), subgid(5)), which the
// administrator fills with lines
//
//	owner:start:count
//
// "alice:100000:65536" lets alice map the host ids 100000..165535. The
// owner is a user name or a numeric uid; /etc/subgid is keyed by the
// user too, not by a group. The setuid helpers newuidmap(1) and
// newgidmap(1) (shadow, Debian package uidmap) check each line of the
// map against these files and write it. The caller's own id alone is
// always allowed; setgroups stays allowed when a gid range came from
// /etc/subgid, else newgidmap denies it.
//
// hull checks the ranges itself before it creates anything, so that a
// map the helpers would refuse fails with the file, the user and the
// range, and leaves nothing behind.

// IDRange is one line of /etc/subuid or /etc/subgid: Owner may map the
// host ids Start..Start+Count-1.
type IDRange struct {
	Owner string
	Start uint32
	Count uint32
}

// String is the line as the file spells it: "alice:100000:65536".
func (r IDRange) String() string {
	return fmt.Sprintf("%s:%d:%d", r.Owner, r.Start, r.Count)
}

// ParseSubIDs reads a subuid(5) or subgid(5) file. Lines that are not
// owner:start:count are skipped, as shadow skips them.
func ParseSubIDs(r io.Reader) ([]IDRange, error) {
	var out []IDRange
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || f[0] == "" {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		// (uid_t)-1 is no id: a range ends at 2^32-2.
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			continue
		}
		out = append(out, IDRange{Owner: f[0], Start: uint32(start), Count: uint32(count)})
	}
	return out, sc.Err()
}

// SubIDUser is the invoking user as newuidmap sees it: the name
// getpwuid(3) gives its real uid, and that uid. A line of /etc/subuid or
// /etc/subgid is the user's when its owner is the name or the uid in
// decimal.
type SubIDUser struct {
	Name string
	UID  int
}

func (u SubIDUser) String() string { return fmt.Sprintf("%s (uid %d)", u.Name, u.UID) }

func (u SubIDUser) owns(r IDRange) bool {
	return r.Owner == u.Name || r.Owner == strconv.Itoa(u.UID)
}

// Ranges returns the user's lines of a subordinate id file.
func (u SubIDUser) Ranges(all []IDRange) []IDRange {
	var out []IDRange
	for _, r := range all {
		if u.owns(r) {
			out = append(out, r)
		}
	}
	return out
}

// covered reports whether the host ids start..start+count-1 lie within
// the union of ranges, walking from one range to the next adjacent one
// as shadow does.
func covered(ranges []IDRange, start, count uint64) bool {
	if count == 0 {
		return false
	}
	end := start + count - 1
	for {
		found := false
		for _, r := range ranges {
			first, last := uint64(r.Start), uint64(r.Start)+uint64(r.Count)-1
			if first <= start && start <= last {
				if last >= end {
					return true
				}
				start, found = last+1, true
				break
			}
		}
		if !found {
			return false
		}
	}
}

// subIDCheck is one map to check against one file.
type subIDCheck struct {
	Field  string // "linux.uidMappings"
	Helper string // "newuidmap"
	File   string // "/etc/subuid"
	Kind   string // "uid"
	Own    uint32 // the caller's own id, which it may map alone
	Maps   []specs.LinuxIDMapping
	Ranges []IDRange // every line of File
}

// check returns an error for each entry of the map that the helper would
// refuse, naming the file, the user and the range.
func (c subIDCheck) check(u SubIDUser) error {
	mine := u.Ranges(c.Ranges)
	var errs []error
	for i, m := range c.Maps {
		if m.Size == 1 && m.HostID == c.Own {
			continue
		}
		if covered(mine, uint64(m.HostID), uint64(m.Size)) {
			continue
		}
		where := fmt.Sprintf("%s[%d] maps host %ss %s", c.Field, i, c.Kind, span(m.HostID, m.Size))
		if len(mine) == 0 {
			errs = append(errs, fmt.Errorf("%s: %s has no range for user %v (%s)", c.Helper, c.File, u, where))
			continue
		}
		var have []string
		for _, r := range mine {
			have = append(have, span(r.Start, r.Count))
		}
		errs = append(errs, fmt.Errorf("%s: %s, outside the ranges %s gives user %v: %s", c.Helper, where, c.File, u, strings.Join(have, ", ")))
	}
	return errors.Join(errs...)
}

// span prints count ids from start as "100000-165535" (or "1000" alone).
func span(start, count uint32) string {
	if count == 0 {
		return fmt.Sprintf("%d (size 0)", start)
	}
	if count == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d-%d", start, uint64(start)+uint64(count)-1)
}

// ownIDOnly reports whether a map holds only id, once: the map an
// unprivileged caller may write itself.
func ownIDOnly(m []specs.LinuxIDMapping, id uint32) bool {
	return len(m) == 1 && m[0].HostID == id && m[0].Size == 1
}

// subIDMappings returns the maps of a rootless container that uses the
// user's subordinate ids: container root is the caller, and container ids
// 1, 2, ... run through the user's ranges in the order of the file.
func subIDMappings(own uint32, ranges []IDRange) []specs.LinuxIDMapping {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: own, Size: 1}}
	next := uint64(1)
	for _, r := range ranges {
		// The kernel refuses a map whose host ranges overlap: a line
		// that overlaps the caller's id or an earlier line is left out.
		if overlaps(m, r) {
			continue
		}
		// No overflow: host ranges that do not overlap, within
		// 0..2^32-2, add up to fewer ids than a container has.
		m = append(m, specs.LinuxIDMapping{ContainerID: uint32(next), HostID: r.Start, Size: r.Count})
		next += uint64(r.Count)
	}
	return m
}

func overlaps(m []specs.LinuxIDMapping, r IDRange) bool {
	first, last := uint64(r.Start), uint64(r.Start)+uint64(r.Count)-1
	for _, e := range m {
		if uint64(e.HostID) <= last && first <= uint64(e.HostID)+uint64(e.Size)-1 {
			return true
		}
	}
	return false
}
