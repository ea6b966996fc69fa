package vmm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// smapsEntry is one mapping of /proc/PID/smaps (proc(5)); sizes in KiB.
type smapsEntry struct {
	start, end uint64 // [start, end)
	perms      string // e.g. r-xp
	path       string // the file, [heap], [stack], anon_inode:..., or "" for anonymous memory
	// Size is the mapping's length; Rss what of it is resident in this
	// process's page tables; Anonymous the part not backed by a file
	// (a private file mapping's pages become anonymous when written);
	// AnonHugePages the part in transparent huge pages.
	size, rss, anonymous, anonHuge uint64
}

// readSmaps parses /proc/pid/smaps, or /proc/self/smaps for pid 0.
func readSmaps(pid int) ([]smapsEntry, error) {
	path := "/proc/self/smaps"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/smaps", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseSmaps(b)
}

// parseSmaps parses the text of an smaps file: per mapping, a header
// line "start-end perms offset dev inode [path]" then "Field: N kB" lines.
func parseSmaps(b []byte) ([]smapsEntry, error) {
	var out []smapsEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") {
			e, err := parseSmapsHeader(f)
			if err != nil {
				return nil, fmt.Errorf("smaps: %q: %w", sc.Text(), err)
			}
			out = append(out, e)
			continue
		}
		if len(out) == 0 || len(f) != 3 || f[2] != "kB" {
			continue // VmFlags, THPeligible and the like
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps: %q: %w", sc.Text(), err)
		}
		e := &out[len(out)-1]
		switch f[0] {
		case "Size:":
			e.size = n
		case "Rss:":
			e.rss = n
		case "Anonymous:":
			e.anonymous = n
		case "AnonHugePages:":
			e.anonHuge = n
		}
	}
	return out, sc.Err()
}

func parseSmapsHeader(f []string) (smapsEntry, error) {
	if len(f) < 5 {
		return smapsEntry{}, fmt.Errorf("%d fields, want 5 or more", len(f))
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return smapsEntry{}, fmt.Errorf("address range %q", f[0])
	}
	start, err := strconv.ParseUint(lo, 16, 64)
	if err != nil {
		return smapsEntry{}, err
	}
	end, err := strconv.ParseUint(hi, 16, 64)
	if err != nil {
		return smapsEntry{}, err
	}
	e := smapsEntry{start: start, end: end, perms: f[1]}
	if len(f) > 5 {
		e.path = strings.Join(f[5:], " ")
	}
	return e, nil
}
