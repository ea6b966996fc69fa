package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Mode is how the host mounts cgroups.
type Mode int

const (
	Legacy  Mode = iota + 1 // v1 hierarchies only
	Hybrid                  // v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified)
	Unified                 // one cgroup2 hierarchy at /sys/fs/cgroup
)

func (m Mode) String() string {
	switch m {
	case Legacy:
		return "legacy"
	case Hybrid:
		return "hybrid"
	case Unified:
		return "unified"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Host describes a machine's cgroup mounts as the calling process sees them.
//
// Mount points are joined to the root given to DetectHost, so on a live
// machine (root "/") they are the real paths and a fixture's Host points
// into its fixture tree. Cgroup paths (Self, SelfV1) are paths inside a
// hierarchy, as /proc/self/cgroup prints them.
type Host struct {
	Mode        Mode
	Unified     string            // mount point of the cgroup2 hierarchy, "" if none
	V1          map[string]string // v1 controller (and named hierarchies like "name=systemd") → mount point
	Controllers []string          // the cgroup2 root's cgroup.controllers
	Self        string            // this process's cgroup2 path (the "0::" line of /proc/self/cgroup)
	SelfV1      map[string]string // v1 controller → this process's path in that hierarchy
	Delegated   []string          // cgroup.controllers of Self in the cgroup2 tree: what hull may enable below it

	// MountRoot maps "" (the cgroup2 mount) and each v1 controller to the
	// cgroup that its mount shows at the mount point: "/" for a plain
	// mount, the container's own cgroup for a bind mount or a mount made
	// inside a cgroup namespace (the 4th field of mountinfo).
	MountRoot map[string]string
}

// DetectHost reads proc/self/mountinfo, proc/self/cgroup and the
// cgroup.controllers files under root, a directory standing for "/" ("/" on
// a live machine; tests pass a fixture tree).
//
// The mode follows from the mounts: a cgroup2 mount at /sys/fs/cgroup is
// Unified; v1 hierarchies next to a cgroup2 mount are Hybrid; v1 alone is
// Legacy. A machine without any cgroup mount is an error.
func DetectHost(root string) (*Host, error) {
	h := &Host{V1: map[string]string{}, SelfV1: map[string]string{}, MountRoot: map[string]string{}}

	mounts, err := readMountinfo(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		switch m.fstype {
		case "cgroup2":
			// The first cgroup2 mount wins; a second one (a bind mount
			// into a container's rootfs, say) shows the same hierarchy.
			if h.Unified == "" || m.point == "/sys/fs/cgroup" && h.Mode != Unified {
				h.Unified = filepath.Join(root, m.point)
				h.MountRoot[""] = m.root
				if m.point == "/sys/fs/cgroup" {
					h.Mode = Unified
				}
			}
		case "cgroup":
			for _, c := range v1Controllers(m.superOpts) {
				if _, ok := h.V1[c]; !ok {
					h.V1[c] = filepath.Join(root, m.point)
					h.MountRoot[c] = m.root
				}
			}
		}
	}
	switch {
	case h.Mode == Unified:
	case len(h.V1) > 0 && h.Unified != "":
		h.Mode = Hybrid
	case len(h.V1) > 0:
		h.Mode = Legacy
	case h.Unified != "":
		// cgroup2 alone, mounted somewhere other than /sys/fs/cgroup.
		h.Mode = Unified
	default:
		return nil, errors.New("no cgroup or cgroup2 filesystem is mounted (see proc/self/mountinfo)")
	}

	if err := readProcCgroup(filepath.Join(root, "proc/self/cgroup"), h); err != nil {
		return nil, err
	}

	if h.Unified != "" {
		if h.Controllers, err = readControllers(filepath.Join(h.Unified, "cgroup.controllers")); err != nil {
			return nil, err
		}
		if h.Self != "" {
			h.Delegated, err = readControllers(filepath.Join(h.SelfDir(""), "cgroup.controllers"))
			if errors.Is(err, fs.ErrNotExist) {
				// Our cgroup is not visible below this mount (it was
				// made for another cgroup namespace): nothing is
				// delegated to us there.
				err = nil
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// SelfDir returns the directory of this process's own cgroup for a v1
// controller, or for the cgroup2 hierarchy when controller is "". It is ""
// when that hierarchy is not mounted.
func (h *Host) SelfDir(controller string) string {
	if controller == "" {
		if h.Unified == "" {
			return ""
		}
		return filepath.Join(h.Unified, relToMount(h.Self, h.MountRoot[""]))
	}
	mp, ok := h.V1[controller]
	if !ok {
		return ""
	}
	return filepath.Join(mp, relToMount(h.SelfV1[controller], h.MountRoot[controller]))
}

// relToMount turns a cgroup path into a path below a mount whose root is
// mountRoot. /proc/self/cgroup and mountinfo speak of the same namespace
// root, so a mount of "/docker/abc" holds "/docker/abc/x" at "x".
func relToMount(cg, mountRoot string) string {
	cg = path.Clean("/" + cg)
	if mountRoot == "" || mountRoot == "/" {
		return cg
	}
	if rel, ok := strings.CutPrefix(cg, mountRoot); ok && (rel == "" || rel[0] == '/') {
		return "/" + strings.TrimPrefix(rel, "/")
	}
	// Our cgroup lies outside what the mount shows (a cgroup namespace
	// made after the mount): the mount root is the best we can see.
	return "/"
}

// HasController reports whether a controller is available to hull on
// this host: in Delegated on the cgroup2 side, or mounted as a v1
// hierarchy.
func (h *Host) HasController(name string) bool {
	if _, ok := h.V1[name]; ok {
		return true
	}
	for _, c := range h.Delegated {
		if c == name {
			return true
		}
	}
	return false
}

// V1Names returns the v1 hierarchies' names in sorted order.
func (h *Host) V1Names() []string {
	names := make([]string, 0, len(h.V1))
	for n := range h.V1 {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type mountinfo struct {
	root, point, fstype, source, superOpts string
}

// readMountinfo parses proc(5)'s mountinfo lines:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
//
// keeping the mount root (4), mount point (5), and after the "-"
// separator the filesystem type, source and super options.
func readMountinfo(file string) ([]mountinfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountinfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 6 || len(b) < 3 {
			return nil, fmt.Errorf("%s:%d: malformed mountinfo line %q", file, n, line)
		}
		out = append(out, mountinfo{
			root:      unescapeOctal(a[3]),
			point:     unescapeOctal(a[4]),
			fstype:    b[0],
			source:    b[1],
			superOpts: b[2],
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// unescapeOctal undoes the kernel's \ooo escaping of space, tab, newline
// and backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// v1Controllers picks the controllers out of a v1 mount's super options
// ("rw,cpu,cpuacct", "rw,xattr,name=systemd"): everything but the mount
// flags that cgroup v1 knows.
func v1Controllers(opts string) []string {
	var out []string
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "", "rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods", "none", "all":
			continue
		}
		if strings.Contains(o, "=") && !strings.HasPrefix(o, "name=") {
			continue // release_agent=...
		}
		out = append(out, o)
	}
	return out
}

// readProcCgroup parses /proc/self/cgroup (see cgroups(7)):
//
//	hierarchy-ID:controller-list:cgroup-path
//
// The "0::" line is the cgroup2 hierarchy; the others are v1 hierarchies,
// whose controller lists may join several names ("cpu,cpuacct").
func readProcCgroup(file string, h *Host) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for n, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return fmt.Errorf("%s:%d: malformed line %q", file, n+1, line)
		}
		if parts[0] == "0" && parts[1] == "" {
			h.Self = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c != "" {
				h.SelfV1[c] = parts[2]
			}
		}
	}
	return nil
}

// readControllers reads a space-separated cgroup.controllers file.
func readControllers(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}
