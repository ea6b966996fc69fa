package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/runtime/capability"
)

// A rootless container with a subordinate id range (see subid.go).
//
// When hull runs as root, or maps only the caller's own uid and gid, Go
// writes the new user namespace's maps between clone and execve
// (SysProcAttr.UidMappings) and the init starts as root of its namespace
// (SysProcAttr.Credential). With a range, the maps must be written by
// newuidmap and newgidmap, which take a pid: the init must already
// exist, and it execs hull before anyone can write them. An execve by an
// unmapped uid would recompute its capabilities as those of nobody, so
// the init is cloned with every capability raised into its ambient set,
// which execve keeps:
//
//	hull create (uid 1000)                      hull init
//	──────────────────────                      ─────────
//	check the maps against /etc/subuid and
//	/etc/subgid, as the helpers will (before
//	anything exists)
//	clone(CLONE_NEWUSER|...): no maps yet,
//	every capability ambient ─────────────────▶ execve hull: the capabilities stay;
//	                                            reads the plan (blocks)
//	newuidmap <pid> 0 1000 1 1 100000 65536
//	newgidmap <pid> 0 1000 1 1 100000 65536
//	── {"type":"plan"} ────────────────────────▶ setresgid(0), setresuid(0) (a no-op
//	                                            when 0 maps to the caller), then the
//	                                            steps, whose capability step sets all
//	                                            five sets anew and clears the ambient one
//
// newuidmap(1) and newgidmap(1) are setuid root. Each refuses unless the
// caller's real uid has an entry in /etc/passwd whose primary group is
// the caller's real gid (unless login.defs sets GRANT_AUX_GROUP_SUBIDS),
// the target process belongs to the caller, and every line of the map is
// either the caller's own id alone or within the user's ranges.

const (
	subUIDFile = "/etc/subuid"
	subGIDFile = "/etc/subgid"
	loginDefs  = "/etc/login.defs"
)

// needsIDHelpers reports whether the maps of the plan's new user
// namespace must be written by newuidmap and newgidmap: the caller is
// not root and maps more than its own uid and gid.
func needsIDHelpers(p *Plan) bool {
	if p.Clone&unix.CLONE_NEWUSER == 0 || os.Geteuid() == 0 {
		return false
	}
	return !ownIDOnly(p.UIDMappings, uint32(os.Geteuid())) || !ownIDOnly(p.GIDMappings, uint32(os.Getegid()))
}

// subIDHost is what newuidmap and newgidmap will look at, read once.
type subIDHost struct {
	user       SubIDUser
	uids, gids []IDRange
}

// readSubIDHost finds the helpers and the caller's passwd entry, checks
// its primary group as shadow does, and reads /etc/subuid and
// /etc/subgid (a missing file has no ranges).
func readSubIDHost() (*subIDHost, error) {
	var errs []error
	for _, h := range []string{"newuidmap", "newgidmap"} {
		if _, err := helperPath(h); err != nil {
			errs = append(errs, fmt.Errorf("%s (Debian package uidmap): %w", h, err))
		}
	}
	uid, gid := os.Getuid(), os.Getgid()
	pw, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return nil, errors.Join(append(errs, fmt.Errorf("newuidmap: uid %d has no entry in /etc/passwd, and the helpers need its user name: %w", uid, err))...)
	}
	h := &subIDHost{user: SubIDUser{Name: pw.Username, UID: uid}}
	if pw.Gid != strconv.Itoa(gid) && !grantAuxGroupSubIDs() {
		errs = append(errs, fmt.Errorf("newuidmap: the caller's gid %d is not the primary group %s of user %v in /etc/passwd, and the helpers refuse that (GRANT_AUX_GROUP_SUBIDS is not set in %s)", gid, pw.Gid, h.user, loginDefs))
	}
	if h.uids, err = readSubIDFile(subUIDFile); err != nil {
		errs = append(errs, err)
	}
	if h.gids, err = readSubIDFile(subGIDFile); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return h, nil
}

func readSubIDFile(name string) ([]IDRange, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := ParseSubIDs(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return r, nil
}

// grantAuxGroupSubIDs reports whether login.defs lets the helpers serve a
// caller whose gid is a supplementary group of the user.
func grantAuxGroupSubIDs() bool {
	f, err := os.Open(loginDefs)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "GRANT_AUX_GROUP_SUBIDS" {
			return strings.EqualFold(f[1], "yes")
		}
	}
	return false
}

// check reports every line of the maps the helpers would refuse.
func (h *subIDHost) check(uidMaps, gidMaps []specs.LinuxIDMapping) error {
	return errors.Join(
		subIDCheck{Field: "linux.uidMappings", Helper: "newuidmap", File: subUIDFile, Kind: "uid", Own: uint32(os.Getuid()), Maps: uidMaps, Ranges: h.uids}.check(h.user),
		subIDCheck{Field: "linux.gidMappings", Helper: "newgidmap", File: subGIDFile, Kind: "gid", Own: uint32(os.Getgid()), Maps: gidMaps, Ranges: h.gids}.check(h.user),
	)
}

// checkIDHelpers is create's check before it makes anything: when the
// helpers must write the maps, they exist and will accept them.
func checkIDHelpers(p *Plan) error {
	if !needsIDHelpers(p) {
		return nil
	}
	h, err := readSubIDHost()
	if err != nil {
		return fmt.Errorf("the user namespace maps more than uid %d and gid %d: %w", os.Geteuid(), os.Getegid(), err)
	}
	return h.check(p.UIDMappings, p.GIDMappings)
}

// useIDHelpers changes the init's clone so that the helpers can write its
// maps after it started: no maps from Go, no setuid before execve (uid 0
// is not mapped yet), and every capability ambient so that the execve of
// an unmapped uid keeps them.
func useIDHelpers(attr *syscall.SysProcAttr) {
	attr.UidMappings, attr.GidMappings = nil, nil
	attr.Credential = nil
	attr.AmbientCaps = nil
	for c := capability.Cap(0); c <= capability.Last(); c++ {
		attr.AmbientCaps = append(attr.AmbientCaps, uintptr(c))
	}
}

// helperPath finds newuidmap or newgidmap in $PATH, else in /usr/bin,
// where shadow installs them: a container engine may call the runtime
// with a short $PATH.
func helperPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	if _, serr := os.Stat("/usr/bin/" + name); serr == nil {
		return "/usr/bin/" + name, nil
	}
	return "", err
}

// writeIDMaps runs newuidmap and newgidmap on the init.
func writeIDMaps(ctx context.Context, pid int, p *Plan) error {
	for _, h := range []struct {
		name string
		maps []specs.LinuxIDMapping
	}{{"newuidmap", p.UIDMappings}, {"newgidmap", p.GIDMappings}} {
		args := []string{strconv.Itoa(pid)}
		for _, m := range h.maps {
			args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10), strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
		}
		path, err := helperPath(h.name)
		if err != nil {
			return err
		}
		out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
		if err != nil {
			if msg := strings.TrimSpace(string(out)); msg != "" {
				return fmt.Errorf("%s %s: %s: %w", h.name, strings.Join(args, " "), msg, err)
			}
			return fmt.Errorf("%s %s: %w", h.name, strings.Join(args, " "), err)
		}
	}
	return nil
}

// becomeRoot makes the init root of its new user namespace when the
// helpers wrote its maps: it started as the caller's ids, which map to
// 0 in the usual rootless map (then this is a no-op) but may map to
// another id, or to none.
func becomeRoot(p *Plan) error {
	if p.Clone&unix.CLONE_NEWUSER == 0 || (unix.Getuid() == 0 && unix.Getgid() == 0) {
		return nil
	}
	if err := syscall.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("setresgid 0 in the container's user namespace (is gid 0 in linux.gidMappings?): %w", err)
	}
	if err := syscall.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("setresuid 0 in the container's user namespace (is uid 0 in linux.uidMappings?): %w", err)
	}
	return nil
}

// RootlessSpec is DefaultSpec(true) for the calling user. When the user
// has ranges in /etc/subuid and /etc/subgid, and newuidmap and
// newgidmap are installed and would accept them, container root maps to
// the caller and container ids 1, 2, ... run through those ranges, as
// podman maps them; /dev/pts then keeps gid=5, the tty group. Otherwise
// only container root is mapped, to the caller, as "runc spec
// --rootless" writes. Either way the config runs as is.
func RootlessSpec() *specs.Spec {
	s := DefaultSpec(true)
	h, err := readSubIDHost()
	if err != nil {
		return s
	}
	uids := subIDMappings(uint32(os.Getuid()), h.user.Ranges(h.uids))
	gids := subIDMappings(uint32(os.Getgid()), h.user.Ranges(h.gids))
	if len(uids) < 2 || len(gids) < 2 || h.check(uids, gids) != nil {
		return s
	}
	s.Linux.UIDMappings, s.Linux.GIDMappings = uids, gids
	for i, m := range s.Mounts {
		if m.Destination == "/dev/pts" && !hasOption(m.Options, "gid=5") {
			s.Mounts[i].Options = append(m.Options, "gid=5")
		}
	}
	return s
}

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}
