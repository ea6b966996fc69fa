package bundle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/rootfs"
	"github.com/hullrt/hull/image/store"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Annotation keys, from image-spec annotations.md and conversion.md.
const (
	AnnotationOS           = "org.opencontainers.image.os"
	AnnotationArchitecture = "org.opencontainers.image.architecture"
	AnnotationVariant      = "org.opencontainers.image.variant"
	AnnotationOSVersion    = "org.opencontainers.image.os.version"
	AnnotationOSFeatures   = "org.opencontainers.image.os.features"
	AnnotationAuthor       = "org.opencontainers.image.author"
	AnnotationCreated      = "org.opencontainers.image.created"
	AnnotationStopSignal   = "org.opencontainers.image.stopSignal"
	AnnotationExposedPorts = "org.opencontainers.image.exposedPorts"
	// AnnotationVolumes is hull's: the runtime spec has no volumes, and
	// conversion.md leaves how to honour them to the implementation.
	AnnotationVolumes = "hull.image.volumes"
)

// Spec returns config.json for an image with config cfg whose root
// filesystem is unpacked at rootfsDir (read for the user database). base
// is not modified.
func Spec(cfg *v1.ConfigFile, rootfsDir string, base *specs.Spec) (*specs.Spec, error) {
	if base == nil {
		return nil, errors.New("bundle: no base spec")
	}
	s, err := clone(base)
	if err != nil {
		return nil, err
	}
	if s.Process == nil {
		s.Process = &specs.Process{}
	}
	c := cfg.Config
	if args := append(append([]string{}, c.Entrypoint...), c.Cmd...); len(args) > 0 {
		s.Process.Args = args
	}
	s.Process.Env = mergeEnv(s.Process.Env, c.Env)
	if c.WorkingDir != "" {
		// The runtime spec wants an absolute cwd; docker resolves a
		// relative WorkingDir against "/".
		s.Process.Cwd = path.Join("/", c.WorkingDir)
	}
	if c.User != "" {
		u, err := ResolveUser(rootfsDir, c.User)
		if err != nil {
			return nil, err
		}
		s.Process.User = u
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	set := func(k, v string) {
		if v != "" {
			s.Annotations[k] = v
		}
	}
	set(AnnotationOS, cfg.OS)
	set(AnnotationArchitecture, cfg.Architecture)
	set(AnnotationVariant, cfg.Variant)
	set(AnnotationOSVersion, cfg.OSVersion)
	set(AnnotationOSFeatures, strings.Join(cfg.OSFeatures, ","))
	set(AnnotationAuthor, cfg.Author)
	if !cfg.Created.IsZero() {
		set(AnnotationCreated, cfg.Created.UTC().Format(time.RFC3339))
	}
	set(AnnotationStopSignal, c.StopSignal)
	set(AnnotationExposedPorts, strings.Join(sortedKeys(c.ExposedPorts), ","))
	set(AnnotationVolumes, strings.Join(sortedKeys(c.Volumes), ","))
	for k, v := range c.Labels { // labels win (conversion.md, Annotations)
		s.Annotations[k] = v
	}
	return s, nil
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func clone(s *specs.Spec) (*specs.Spec, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var out specs.Spec
	return &out, json.Unmarshal(b, &out)
}

// mergeEnv lays the image's variables over the base's: a name the image
// sets replaces the base's entry, in place; new names are appended.
func mergeEnv(base, image []string) []string {
	out := append([]string{}, base...)
	index := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		index[k] = i
	}
	for _, kv := range image {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// ResolveUser turns an image's Config.User ("name", "uid", "name:group",
// "uid:gid", ...) into a process user, reading etc/passwd and etc/group
// inside rootfsDir. A name missing from the database is an error; numeric
// ids need no entry. Additional groups come from etc/group when the group
// is not given explicitly.
func ResolveUser(rootfsDir, user string) (specs.User, error) {
	var u specs.User
	root, err := os.OpenRoot(rootfsDir)
	if err != nil {
		return u, err
	}
	defer root.Close()
	name, group, hasGroup := strings.Cut(user, ":")
	passwd, err := readDB(root, "etc/passwd")
	if err != nil {
		return u, err
	}
	var userName string
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		u.UID = uint32(id)
		for _, e := range passwd { // primary group of a known uid
			if e[2] == name {
				u.GID, userName = parseID(e[3]), e[0]
				break
			}
		}
	} else {
		found := false
		for _, e := range passwd {
			if e[0] == name {
				u.UID, u.GID, userName, found = parseID(e[2]), parseID(e[3]), name, true
				break
			}
		}
		if !found {
			return u, fmt.Errorf("image user %q: no user %q in the image's /etc/passwd", user, name)
		}
	}
	groups, err := readDB(root, "etc/group")
	if err != nil {
		return u, err
	}
	if hasGroup {
		if id, err := strconv.ParseUint(group, 10, 32); err == nil {
			u.GID = uint32(id)
			return u, nil
		}
		for _, e := range groups {
			if e[0] == group {
				u.GID = parseID(e[2])
				return u, nil
			}
		}
		return u, fmt.Errorf("image user %q: no group %q in the image's /etc/group", user, group)
	}
	if userName == "" {
		return u, nil
	}
	for _, e := range groups {
		gid := parseID(e[2])
		if gid == u.GID || len(e) < 4 {
			continue
		}
		for _, m := range strings.Split(e[3], ",") {
			if m == userName {
				u.AdditionalGids = append(u.AdditionalGids, gid)
			}
		}
	}
	return u, nil
}

func parseID(s string) uint32 {
	id, _ := strconv.ParseUint(s, 10, 32)
	return uint32(id)
}

// readDB reads a colon-separated database (passwd, group) inside root. A
// missing file is empty; entries with fewer than four fields are skipped.
func readDB(root *os.Root, name string) ([][]string, error) {
	b, err := root.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the image's /%s: %w", name, err)
	}
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= 4 {
			out = append(out, f)
		}
	}
	return out, sc.Err()
}

// Write makes dir an OCI runtime bundle of im: the layers merged into
// dir/rootfs (a copy, as umoci does) and dir/config.json built on base.
// dir must not exist or be empty. On error, what Write created is removed.
//
// Write holds the store's shared lock ([store.Store.Hold]) while it reads
// the layers, so that a concurrent Prune, even of an image removed
// meanwhile, waits for the copy instead of deleting layers under it.
func Write(ctx context.Context, st *store.Store, im store.Image, dir string, base *specs.Spec, opts ...layer.Option) (err error) {
	release, err := st.Hold(ctx)
	if err != nil {
		return err
	}
	defer release()
	cfgBytes, err := st.Blob(im.Config.Digest)
	if err != nil {
		return err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgBytes))
	if err != nil {
		return fmt.Errorf("image config %s: %w", im.Config.Digest, err)
	}
	layers, err := st.LayerDirs(im)
	if err != nil {
		return err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("bundle %s: directory is not empty", dir)
	}
	created := false
	if err := os.Mkdir(dir, 0o700); err == nil {
		created = true
	} else if !errors.Is(err, fs.ErrExist) {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(dir)
		} else {
			os.RemoveAll(filepath.Join(dir, "rootfs"))
			os.Remove(filepath.Join(dir, "config.json"))
		}
	}()
	rootDir := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootDir, 0o755); err != nil {
		return err
	}
	if err := rootfs.Copy(ctx, rootDir, layers, opts...); err != nil {
		return err
	}
	s, err := Spec(cfg, rootDir, base)
	if err != nil {
		return err
	}
	if s.Root == nil {
		s.Root = &specs.Root{}
	}
	s.Root.Path = "rootfs"
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n'), 0o644)
}
