package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hullrt/hull/internal/fscopy"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A volume is a directory of the host that outlives containers, bound
// into them (ContainerConfig.Volumes):
//
//	-v /host/dir:/data[:ro]   a bind mount of a host directory
//	-v NAME:/data[:ro]        the named volume NAME, made on first use
//	-v /data                  an anonymous volume, of this container alone
//	                          (its name is a random ID; "rm -v" removes it)
//
// and each VOLUME of the image that no -v covers gets an anonymous volume.
//
// A volume is kept as
//
//	DATA/volumes/NAME/volume.json   name, creation time, anonymous or not
//	DATA/volumes/NAME/_data/        what the container sees
//
// and a volume made for a container starts as a copy of what the image has
// at the mount point, with owners, modes and times (as docker does; the
// option nocopy leaves it empty). Volumes lists them with the containers
// using them; RemoveVolume refuses to remove one in use.

// Volume is a named or anonymous volume.
type Volume struct {
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`
	Anonymous bool      `json:"anonymous,omitempty"`
	// Dir is the directory bound into containers.
	Dir string `json:"dir"`
	// UsedBy names the containers that use it (not stored).
	UsedBy []string `json:"usedBy,omitempty"`
}

// volumeUse is a volume a container config asks for.
type volumeUse struct {
	name      string
	anonymous bool
	dest      string
	copy      bool // seed from the image when made now
	mount     int  // index in the mounts parseVolumes returns
}

func (e *Engine) volumesDir() string { return filepath.Join(e.dataDir, "volumes") }

// parseVolumes turns ContainerConfig.Volumes into bind mounts, reporting
// every bad entry; named and anonymous volumes are listed in uses, their
// mounts' sources left for ensureVolumes to fill in. Missing host
// directories are made.
func parseVolumes(vols []string) (mounts []specs.Mount, uses []volumeUse, err error) {
	var errs []error
	for i, v := range vols {
		parts := strings.Split(v, ":")
		if len(parts) == 1 && filepath.IsAbs(v) {
			parts = []string{"", v} // anonymous
		} else if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			errs = append(errs, fmt.Errorf("volumes[%d]: %q is not [HOST|NAME:]CONTAINER[:OPTIONS]", i, v))
			continue
		}
		if !filepath.IsAbs(parts[1]) {
			errs = append(errs, fmt.Errorf("volumes[%d]: %q: the container path must be absolute", i, v))
			continue
		}
		opts := []string{"rbind", "rprivate"}
		copy := true
		if len(parts) == 3 {
			for _, o := range strings.Split(parts[2], ",") {
				switch o {
				case "ro":
					opts = append(opts, "ro")
				case "rw":
				case "nocopy":
					copy = false
				default:
					errs = append(errs, fmt.Errorf("volumes[%d]: option %q is not ro, rw or nocopy", i, o))
				}
			}
		}
		switch host := parts[0]; {
		case host == "":
			uses = append(uses, volumeUse{name: newID(), anonymous: true, dest: parts[1], copy: copy, mount: len(mounts)})
		case filepath.IsAbs(host):
			if err := os.MkdirAll(host, 0o755); err != nil {
				errs = append(errs, fmt.Errorf("volumes[%d]: %w", i, err))
				continue
			}
		case checkName(host) != nil:
			errs = append(errs, fmt.Errorf("volumes[%d]: %q: the host side must be an absolute path or a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", i, v))
			continue
		default:
			uses = append(uses, volumeUse{name: host, dest: parts[1], copy: copy, mount: len(mounts)})
		}
		mounts = append(mounts, specs.Mount{Destination: parts[1], Type: "bind", Source: parts[0], Options: opts})
	}
	return mounts, uses, errors.Join(errs...)
}

// imageVolumes adds an anonymous volume for each of the image's VOLUME
// paths that no mount of the container's covers already, as docker does:
// what the container writes there lives outside its writable layer, and a
// new volume starts with the image's files at that path.
func imageVolumes(paths map[string]struct{}, mounts []specs.Mount, uses []volumeUse) ([]specs.Mount, []volumeUse) {
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		dest := filepath.Clean(p)
		if !filepath.IsAbs(dest) || slices.ContainsFunc(mounts, func(m specs.Mount) bool { return filepath.Clean(m.Destination) == dest }) {
			continue
		}
		uses = append(uses, volumeUse{name: newID(), anonymous: true, dest: dest, copy: true, mount: len(mounts)})
		mounts = append(mounts, specs.Mount{Destination: dest, Type: "bind", Options: []string{"rbind", "rprivate"}})
	}
	return mounts, uses
}

// ensureVolumes makes the volumes of uses that do not exist yet and points
// their mounts at them. It returns those it made (to seed, or to remove if
// the container is not made after all). Called with the containers lock
// held.
func (e *Engine) ensureVolumes(mounts []specs.Mount, uses []volumeUse) (made []volumeUse, err error) {
	for _, u := range uses {
		dir := filepath.Join(e.volumesDir(), u.name)
		mounts[u.mount].Source = filepath.Join(dir, "_data")
		if _, err := os.Stat(filepath.Join(dir, "volume.json")); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dir, "_data"), 0o755); err != nil {
			return made, err
		}
		b, _ := json.Marshal(Volume{Name: u.name, Created: time.Now().UTC(), Anonymous: u.anonymous})
		if err := os.WriteFile(filepath.Join(dir, "volume.json"), b, 0o600); err != nil {
			os.RemoveAll(dir)
			return made, err
		}
		made = append(made, u)
	}
	return made, nil
}

// seedVolume copies what the image has at the volume's mount point
// (root: the image's root filesystem, mounted) into the new volume.
func (e *Engine) seedVolume(root string, u volumeUse) error {
	src, err := securePath(root, u.dest)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) || err == nil && !fi.IsDir() {
		return nil // nothing there to copy
	}
	if err != nil {
		return err
	}
	dst := filepath.Join(e.volumesDir(), u.name, "_data")
	if err := fscopy.Tree(src, dst); err != nil {
		return fmt.Errorf("volume %s: copying the image's %s: %w", u.name, u.dest, err)
	}
	return nil
}

// securePath resolves p inside root, symbolic links followed as if root
// were /: nothing leads out of it.
func securePath(root, p string) (string, error) {
	parts := strings.Split(filepath.Clean("/"+p), "/")
	cur, links := "/", 0
	for len(parts) > 0 {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, part)
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return filepath.Join(root, cur), nil
}

// Volumes lists the volumes, by name, with the containers using them.
func (e *Engine) Volumes(ctx context.Context) ([]Volume, error) {
	ents, err := os.ReadDir(e.volumesDir())
	if errors.Is(err, os.ErrNotExist) {
		return []Volume{}, nil
	}
	if err != nil {
		return nil, err
	}
	users, err := e.volumeUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := []Volume{}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(e.volumesDir(), ent.Name(), "volume.json"))
		if err != nil {
			continue // being made or removed
		}
		var v Volume
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("volume %s: %w", ent.Name(), err)
		}
		v.Dir = filepath.Join(e.volumesDir(), ent.Name(), "_data")
		v.UsedBy = users[v.Name]
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// volumeUsers maps each volume name to the containers that use it.
func (e *Engine) volumeUsers(ctx context.Context) (map[string][]string, error) {
	list, err := e.List(ctx)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, c := range list {
		for _, v := range c.Volumes {
			users[v] = append(users[v], c.Name)
		}
	}
	return users, nil
}

// RemoveVolume removes a volume and what it holds; one that a container
// uses only with force (the containers then see an empty directory).
func (e *Engine) RemoveVolume(ctx context.Context, name string, force bool) error {
	lk, err := flock(e.containersDir(), opLock, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lk.Close()
	return e.removeVolume(ctx, name, force)
}

func (e *Engine) removeVolume(ctx context.Context, name string, force bool) error {
	if checkName(name) != nil {
		return fmt.Errorf("volume %q: no such volume", name)
	}
	dir := filepath.Join(e.volumesDir(), name)
	if _, err := os.Stat(filepath.Join(dir, "volume.json")); err != nil {
		return fmt.Errorf("volume %q: no such volume", name)
	}
	users, err := e.volumeUsers(ctx)
	if err != nil {
		return err
	}
	if u := users[name]; len(u) > 0 && !force {
		return fmt.Errorf("volume %s is used by container %s: remove it first, or remove the volume with force", name, strings.Join(u, ", "))
	}
	// volume.json first: a half-removed volume is no volume.
	if err := os.Remove(filepath.Join(dir, "volume.json")); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// PruneVolumes removes every volume no container uses and returns their
// names.
func (e *Engine) PruneVolumes(ctx context.Context) ([]string, error) {
	lk, err := flock(e.containersDir(), opLock, unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer lk.Close()
	vols, err := e.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, v := range vols {
		if len(v.UsedBy) > 0 {
			continue
		}
		if err := e.removeVolume(ctx, v.Name, false); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, v.Name)
	}
	return removed, errors.Join(errs...)
}

// removeAnonymousVolumes removes c's anonymous volumes that no other
// container uses (rm -v).
func (e *Engine) removeAnonymousVolumes(ctx context.Context, c *Container) error {
	lk, err := flock(e.containersDir(), opLock, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lk.Close()
	vols, err := e.Volumes(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vols {
		if v.Anonymous && slices.Contains(c.Volumes, v.Name) && len(v.UsedBy) == 0 {
			errs = append(errs, e.removeVolume(ctx, v.Name, false))
		}
	}
	return errors.Join(errs...)
}
