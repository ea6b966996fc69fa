package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hullrt/hull/image/layer"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where hull keeps images unless told otherwise.
const DefaultRoot = "/var/lib/hull"

// ErrNotFound is wrapped when a blob, layer or image is not in the store.
var ErrNotFound = errors.New("not found")

// ErrDigestMismatch is wrapped when content does not hash to its digest.
// It is the unpacker's own sentinel, so that one errors.Is test catches a
// bad blob digest and a bad diffID alike.
var ErrDigestMismatch = layer.ErrDigestMismatch

// Store is an image store rooted at a directory. Its methods are safe for
// concurrent use by goroutines and by other processes sharing the root.
type Store struct {
	root string
}

// Open opens (creating if needed) the store at root.
func Open(root string) (*Store, error) {
	s := &Store{root: root}
	for _, d := range []string{"blobs/sha256", "layers", "images", "tmp", "locks"} {
		if err := os.MkdirAll(s.dir(d), 0o700); err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) dir(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

// Hold takes the store's shared lock: while it is held, Prune waits.
// A pull holds it from its first layer to its image record, so that
// garbage collection never sees a layer it wrote but has not recorded yet;
// an unpack (bundle.Write) or a mount holds it while it reads the layers,
// so that they are not deleted under it.
func (s *Store) Hold(ctx context.Context) (release func(), err error) {
	return flock(ctx, s.dir("lock"), unix.LOCK_SH)
}

// hexOf checks that d is "sha256:<64 hex>" and returns the hex part.
func hexOf(d string) (string, error) {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("digest %q: want sha256:<64 hex digits>", d)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	return h, nil
}

// Digest returns the sha256 digest of b in its "sha256:HEX" form.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ChainIDs computes the chain ID of each layer from the diffIDs listed in
// an image config (image-spec config.md):
//
//	ChainID(L₀)   = DiffID(L₀)
//	ChainID(L₀…n) = sha256(ChainID(L₀…n-1) + " " + DiffID(Lₙ))
func ChainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = Digest([]byte(out[i-1] + " " + d))
	}
	return out
}

// --- blobs ---

// PutBlob stores b under digest after checking that it hashes to it.
func (s *Store) PutBlob(digest string, b []byte) error {
	h, err := hexOf(digest)
	if err != nil {
		return err
	}
	if got := Digest(b); got != digest {
		return fmt.Errorf("blob %s: %w: content is %s", digest, ErrDigestMismatch, got)
	}
	p := s.dir("blobs/sha256", h)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return s.writeFile(p, b)
}

// Blob returns the content of a stored blob.
func (s *Store) Blob(digest string) ([]byte, error) {
	h, err := hexOf(digest)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.dir("blobs/sha256", h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", digest, ErrNotFound)
	}
	return b, err
}

// --- layers ---

// LayerInfo describes one unpacked layer (layer.json).
type LayerInfo struct {
	ChainID string    `json:"chainID"`
	DiffID  string    `json:"diffID"`
	Parent  string    `json:"parent,omitempty"` // chain ID of the layer below
	Digest  string    `json:"digest,omitempty"` // the blob it was unpacked from
	Size    int64     `json:"size"`             // bytes of file content
	Created time.Time `json:"created"`
}

// LayerDir is the directory holding layer chainID's files.
func (s *Store) LayerDir(chainID string) (string, error) {
	h, err := hexOf(chainID)
	if err != nil {
		return "", err
	}
	return s.dir("layers", h, "diff"), nil
}

// LayerDirs lists the directories of im's layers, lowest first: what
// rootfs.Overlay and rootfs.Copy take.
func (s *Store) LayerDirs(im Image) ([]string, error) {
	dirs := make([]string, 0, len(im.Layers))
	for _, l := range im.Layers {
		if !s.HasLayer(l.ChainID) {
			return nil, fmt.Errorf("image %s: layer %s: %w", im.Digest, l.ChainID, ErrNotFound)
		}
		d, err := s.LayerDir(l.ChainID)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// Layer returns a stored layer's record.
func (s *Store) Layer(chainID string) (LayerInfo, error) {
	var li LayerInfo
	h, err := hexOf(chainID)
	if err != nil {
		return li, err
	}
	b, err := os.ReadFile(s.dir("layers", h, "layer.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return li, fmt.Errorf("layer %s: %w", chainID, ErrNotFound)
	}
	if err != nil {
		return li, err
	}
	return li, decodeStrict(b, &li)
}

// HasLayer reports whether layer chainID is stored (complete).
func (s *Store) HasLayer(chainID string) bool {
	_, err := s.Layer(chainID)
	return err == nil
}

// CreateLayer stores layer info.ChainID, calling fill to write its files
// into an empty directory. When the layer already exists, or another
// caller (in this process or another) creates it meanwhile, fill is not
// called and created is false. fill returns the layer's content size.
// Until it succeeds, nothing is visible under layers/.
func (s *Store) CreateLayer(ctx context.Context, info LayerInfo, fill func(ctx context.Context, dir string) (int64, error)) (created bool, err error) {
	h, err := hexOf(info.ChainID)
	if err != nil {
		return false, err
	}
	release, err := flock(ctx, s.dir("locks", h), unix.LOCK_EX)
	if err != nil {
		return false, fmt.Errorf("locking layer %s: %w", info.ChainID, err)
	}
	defer release()
	if s.HasLayer(info.ChainID) {
		return false, nil
	}
	tmp, err := os.MkdirTemp(s.dir("tmp"), "layer-"+h[:12]+"-")
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			removeAll(tmp)
		}
	}()
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return false, err
	}
	if info.Size, err = fill(ctx, diff); err != nil {
		return false, err
	}
	if info.Created.IsZero() {
		info.Created = time.Now().UTC()
	}
	b, err := json.MarshalIndent(info, "", "\t")
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "layer.json"), b, 0o644); err != nil {
		return false, err
	}
	// One syncfs(2) puts every file of the layer on disk before the rename
	// makes it visible; cheaper than an fsync per file.
	if err := syncfs(tmp); err != nil {
		return false, err
	}
	final := s.dir("layers", h)
	if _, err := os.Lstat(final); err == nil {
		// A directory without layer.json (HasLayer said no): litter of an
		// older hull that crashed while deleting. Clear it.
		if err := s.deleteLayer(h); err != nil {
			return false, err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return false, fmt.Errorf("committing layer %s: %w", info.ChainID, err)
	}
	return true, syncDir(s.dir("layers"))
}

func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

// Partial opens (creating it empty) the file that keeps the partial
// download of blob digest across pulls, tmp/partial-HEX. The caller must
// hold the lock of the layer being created (call it from CreateLayer's
// fill); Prune removes partial files with the rest of tmp/.
func (s *Store) Partial(digest string) (*os.File, error) {
	h, err := hexOf(digest)
	if err != nil {
		return nil, err
	}
	return os.OpenFile(s.dir("tmp", "partial-"+h), os.O_RDWR|os.O_CREATE, 0o600)
}

// RemovePartial removes the partial download of blob digest.
func (s *Store) RemovePartial(digest string) error {
	h, err := hexOf(digest)
	if err != nil {
		return err
	}
	if err := os.Remove(s.dir("tmp", "partial-"+h)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// --- images ---

// Descriptor points at a blob, as in image-spec descriptor.md.
type Descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// Layer is one layer of an image record.
type Layer struct {
	Descriptor
	DiffID  string `json:"diffID"`
	ChainID string `json:"chainID"`
}

// Image is the record of one stored image. Its manifest and config are
// blobs in the store.
type Image struct {
	Digest    string     `json:"digest"` // of the manifest
	MediaType string     `json:"mediaType"`
	Index     string     `json:"index,omitempty"` // digest of the index it was chosen from
	Platform  string     `json:"platform,omitempty"`
	Config    Descriptor `json:"config"`
	Layers    []Layer    `json:"layers"`
	Created   time.Time  `json:"created"` // when it was stored
	// Names is filled in from refs.json when records are read.
	Names []string `json:"-"`
}

// Size is the sum of the compressed layer sizes.
func (im Image) Size() int64 {
	var n int64
	for _, l := range im.Layers {
		n += l.Size
	}
	return n
}

// TopLayer is the chain ID of the image's last layer ("" for none).
func (im Image) TopLayer() string {
	if len(im.Layers) == 0 {
		return ""
	}
	return im.Layers[len(im.Layers)-1].ChainID
}

// PutImage records im (whose blobs and layers must already be stored) and
// points each of names at it.
func (s *Store) PutImage(ctx context.Context, im Image, names ...string) error {
	h, err := hexOf(im.Digest)
	if err != nil {
		return err
	}
	if _, err := s.Blob(im.Config.Digest); err != nil {
		return fmt.Errorf("image %s: config: %w", im.Digest, err)
	}
	for _, l := range im.Layers {
		if !s.HasLayer(l.ChainID) {
			return fmt.Errorf("image %s: layer %s: %w", im.Digest, l.ChainID, ErrNotFound)
		}
	}
	if im.Created.IsZero() {
		im.Created = time.Now().UTC()
	}
	b, err := json.MarshalIndent(im, "", "\t")
	if err != nil {
		return err
	}
	if err := s.writeFile(s.dir("images", h+".json"), b); err != nil {
		return err
	}
	return s.updateRefs(ctx, func(refs map[string]string) error {
		for _, n := range names {
			refs[n] = im.Digest
		}
		return nil
	})
}

// refs.json: name → manifest digest.
func (s *Store) readRefs() (map[string]string, error) {
	refs := map[string]string{}
	b, err := os.ReadFile(s.dir("refs.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return refs, nil
	}
	if err != nil {
		return nil, err
	}
	return refs, decodeStrict(b, &refs)
}

func (s *Store) updateRefs(ctx context.Context, change func(map[string]string) error) error {
	release, err := flock(ctx, s.dir("refs.lock"), unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer release()
	refs, err := s.readRefs()
	if err != nil {
		return err
	}
	if err := change(refs); err != nil {
		return err
	}
	b, err := json.MarshalIndent(refs, "", "\t")
	if err != nil {
		return err
	}
	return s.writeFile(s.dir("refs.json"), b)
}

func (s *Store) readImage(digest string) (Image, error) {
	var im Image
	h, err := hexOf(digest)
	if err != nil {
		return im, err
	}
	b, err := os.ReadFile(s.dir("images", h+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return im, fmt.Errorf("image %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return im, err
	}
	return im, decodeStrict(b, &im)
}

// Images lists every stored image, with its names, newest first.
func (s *Store) Images() ([]Image, error) {
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	names := map[string][]string{}
	for n, d := range refs {
		names[d] = append(names[d], n)
	}
	ents, err := os.ReadDir(s.dir("images"))
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, e := range ents {
		h, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		im, err := s.readImage("sha256:" + h)
		if err != nil {
			return nil, err
		}
		im.Names = names[im.Digest]
		sort.Strings(im.Names)
		out = append(out, im)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Normalize spells an image reference the way the store records names:
// "busybox" is "index.docker.io/library/busybox:latest".
func Normalize(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	return r.Name(), nil
}

// Lookup finds an image by name (as given or normalized), by manifest
// digest, or by a unique prefix of at least 4 hex digits of the digest.
func (s *Store) Lookup(ref string) (Image, error) {
	refs, err := s.readRefs()
	if err != nil {
		return Image{}, err
	}
	d, ok := refs[ref]
	if !ok {
		if n, err := Normalize(ref); err == nil {
			d, ok = refs[n]
		}
	}
	if !ok {
		if d, err = s.digestByPrefix(ref); err != nil {
			return Image{}, err
		}
	}
	im, err := s.readImage(d)
	if err != nil {
		return im, err
	}
	for n, nd := range refs {
		if nd == d {
			im.Names = append(im.Names, n)
		}
	}
	sort.Strings(im.Names)
	return im, nil
}

func (s *Store) digestByPrefix(ref string) (string, error) {
	p := strings.TrimPrefix(ref, "sha256:")
	if _, err := hex.DecodeString(p + strings.Repeat("0", len(p)%2)); len(p) < 4 || err != nil {
		return "", fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	ents, err := os.ReadDir(s.dir("images"))
	if err != nil {
		return "", err
	}
	var found []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), p) && strings.HasSuffix(e.Name(), ".json") {
			found = append(found, "sha256:"+strings.TrimSuffix(e.Name(), ".json"))
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("image %q: %w", ref, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("image %q: the prefix matches %d images", ref, len(found))
}

// Tag points name newName at the image ref resolves to.
func (s *Store) Tag(ctx context.Context, ref, newName string) error {
	im, err := s.Lookup(ref)
	if err != nil {
		return err
	}
	n, err := Normalize(newName)
	if err != nil {
		return err
	}
	return s.updateRefs(ctx, func(refs map[string]string) error {
		refs[n] = im.Digest
		return nil
	})
}

// Remove removes a name; given a digest, or the last name of an image, it
// removes the image record too. Blobs and layers stay until Prune.
func (s *Store) Remove(ctx context.Context, ref string) (Image, error) {
	im, err := s.Lookup(ref)
	if err != nil {
		return im, err
	}
	last := false
	err = s.updateRefs(ctx, func(refs map[string]string) error {
		n, err := Normalize(ref)
		_, named := refs[ref]
		_, namedN := refs[n]
		switch {
		case named:
			delete(refs, ref)
		case err == nil && namedN:
			delete(refs, n)
		default: // a digest: every name goes
			for k, d := range refs {
				if d == im.Digest {
					delete(refs, k)
				}
			}
		}
		last = true
		for _, d := range refs {
			if d == im.Digest {
				last = false
			}
		}
		return nil
	})
	if err != nil || !last {
		return im, err
	}
	h, _ := hexOf(im.Digest)
	if err := os.Remove(s.dir("images", h+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return im, err
	}
	return im, syncDir(s.dir("images"))
}

// Discard removes the given layers unless an image record refers to them:
// a failed pull's cleanup. It only runs when no pull holds the store (it
// tries the exclusive lock once, without waiting): a concurrent pull might
// be about to use one of the layers. It reports whether it ran; when it
// did not, Prune collects the layers later.
func (s *Store) Discard(chainIDs []string) (bool, error) {
	release, err := tryFlock(s.dir("lock"), unix.LOCK_EX)
	if err != nil || release == nil {
		return false, err
	}
	defer release()
	ims, err := s.Images()
	if err != nil {
		return true, err
	}
	used := map[string]bool{}
	for _, im := range ims {
		for _, l := range im.Layers {
			used[l.ChainID] = true
		}
	}
	for _, id := range chainIDs {
		h, err := hexOf(id)
		if err != nil || used[id] {
			continue
		}
		if err := s.deleteLayer(h); err != nil {
			return true, err
		}
	}
	return true, syncDir(s.dir("layers"))
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Layers []string // chain IDs
	Blobs  []string // digests
	Temp   int      // leftovers of interrupted work
}

// Prune removes every layer and blob no image record refers to, and
// the leftovers of interrupted pulls. It waits for running pulls (which
// hold the shared lock) to finish.
func (s *Store) Prune(ctx context.Context) (PruneReport, error) {
	var rep PruneReport
	release, err := flock(ctx, s.dir("lock"), unix.LOCK_EX)
	if err != nil {
		return rep, err
	}
	defer release()
	ims, err := s.Images()
	if err != nil {
		return rep, err
	}
	keepLayers, keepBlobs := map[string]bool{}, map[string]bool{}
	for _, im := range ims {
		keepBlobs[im.Digest], keepBlobs[im.Config.Digest] = true, true
		if im.Index != "" {
			keepBlobs[im.Index] = true
		}
		for _, l := range im.Layers {
			keepLayers[l.ChainID] = true
		}
	}
	ents, err := os.ReadDir(s.dir("layers"))
	if err != nil {
		return rep, err
	}
	for _, e := range ents {
		if id := "sha256:" + e.Name(); !keepLayers[id] {
			if err := s.deleteLayer(e.Name()); err != nil {
				return rep, err
			}
			os.Remove(s.dir("locks", e.Name()))
			rep.Layers = append(rep.Layers, id)
		}
	}
	if ents, err = os.ReadDir(s.dir("blobs/sha256")); err != nil {
		return rep, err
	}
	for _, e := range ents {
		if d := "sha256:" + e.Name(); !keepBlobs[d] {
			if err := os.Remove(s.dir("blobs/sha256", e.Name())); err != nil {
				return rep, err
			}
			rep.Blobs = append(rep.Blobs, d)
		}
	}
	if ents, err = os.ReadDir(s.dir("tmp")); err != nil {
		return rep, err
	}
	for _, e := range ents {
		if err := removeAll(s.dir("tmp", e.Name())); err != nil {
			return rep, err
		}
		rep.Temp++
	}
	return rep, nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// removeAll is os.RemoveAll that also works for an unprivileged owner of
// a tree with read-only directories (a rootless layer keeps an image's
// 0555 directories as they are): when removal fails, it makes the
// directories writable by their owner and tries again.
func removeAll(p string) error {
	if err := os.RemoveAll(p); err == nil || os.Geteuid() == 0 {
		return err
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// deleteLayer removes layers/HEX atomically: one rename(2) into tmp/ makes
// it disappear (a crash after that leaves litter for Prune, never a
// half-deleted layer under its name), then the tree is removed.
func (s *Store) deleteLayer(h string) error {
	tmp, err := os.MkdirTemp(s.dir("tmp"), "deleted-"+h[:min(12, len(h))]+"-")
	if err != nil {
		return err
	}
	if err := os.Rename(s.dir("layers", h), filepath.Join(tmp, "layer")); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return removeAll(tmp)
}
