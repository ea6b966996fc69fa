package registrytest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Entry is one tar entry of a test layer.
type Entry struct {
	tar.Header
	Body []byte
}

// Epoch is the mtime of generated entries.
var Epoch = time.Unix(1700000000, 0)

func File(name string, mode int64, body string) Entry {
	return Entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: Epoch, Format: tar.FormatPAX}, []byte(body)}
}
func Dir(name string, mode int64) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: Epoch, Format: tar.FormatPAX}}
}
func Symlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: Epoch.Add(-time.Hour), Format: tar.FormatPAX}}
}
func Hardlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: Epoch, Format: tar.FormatPAX}}
}

// Busybox is a small root filesystem around the host's static busybox
// (package busybox-static): enough for a shell, users and groups.
func Busybox(t testing.TB) []Entry {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must install the busybox-static package: %v", err)
		}
		t.Skipf("needs /bin/busybox (package busybox-static): %v", err)
	}
	e := []Entry{
		Dir("bin/", 0o755), {tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), ModTime: Epoch, Format: tar.FormatPAX}, bb},
		Symlink("bin/sh", "busybox"), Hardlink("bin/ls", "bin/busybox"),
		Dir("etc/", 0o755),
		File("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
		File("etc/group", 0o644, "root:x:0:\nwww:x:33:\nstaff:x:50:www\nnogroup:x:65534:\n"),
		Dir("tmp/", 0o1777), Dir("root/", 0o700), Dir("var/", 0o755), Dir("var/www/", 0o755),
	}
	e[len(e)-1].Uid, e[len(e)-1].Gid = 33, 33
	return e
}

// Tar writes entries as a tar stream.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.Header
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar %q: %v", h.Name, err)
		}
		if _, err := tw.Write(e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Compression of a test layer.
type Compression int

const (
	Gzip Compression = iota
	Zstd
	None
)

// Layer is an in-memory layer with exact bytes: what is pushed is what
// the test built.
type Layer struct {
	Raw, Blob []byte
	Type      types.MediaType
}

// NewLayer compresses a tar stream; oci selects OCI media types instead of
// Docker's (zstd layers are OCI-typed either way: Docker has no zstd type).
func NewLayer(t testing.TB, c Compression, oci bool, raw []byte) *Layer {
	t.Helper()
	l := &Layer{Raw: raw}
	switch c {
	case Gzip:
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(raw)
		w.Close()
		l.Blob, l.Type = b.Bytes(), types.DockerLayer
		if oci {
			l.Type = types.OCILayer
		}
	case Zstd:
		w, _ := zstd.NewWriter(nil)
		l.Blob, l.Type = w.EncodeAll(raw, nil), types.OCILayerZStd
	case None:
		l.Blob, l.Type = raw, types.DockerUncompressedLayer
		if oci {
			l.Type = types.OCIUncompressedLayer
		}
	}
	return l
}

func hash(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func (l *Layer) Digest() (v1.Hash, error) { return hash(l.Blob), nil }
func (l *Layer) DiffID() (v1.Hash, error) { return hash(l.Raw), nil }
func (l *Layer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.Blob)), nil
}
func (l *Layer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.Raw)), nil
}
func (l *Layer) Size() (int64, error)                { return int64(len(l.Blob)), nil }
func (l *Layer) MediaType() (types.MediaType, error) { return l.Type, nil }

// Image assembles an image of layers with the given config, as a Docker
// schema 2 or (oci) an OCI manifest, for platform.
func Image(t testing.TB, oci bool, platform v1.Platform, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := empty.Image
	if oci {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Config = cfg
	cf.Created = v1.Time{Time: Epoch}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func (r *Registry) remoteOptions() []remote.Option {
	o := []remote.Option{remote.WithTransport(r.Transport())}
	if r.User != "" {
		o = append(o, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Pass}))
	}
	return o
}

// Ref is repo (with tag or digest) on this registry.
func (r *Registry) Ref(t testing.TB, repo string) name.Reference {
	var opts []name.Option
	if r.CAFile == "" {
		opts = append(opts, name.Insecure) // plain HTTP, at any address
	}
	ref, err := name.ParseReference(r.Addr+"/"+repo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// Push writes img to repo:tag and returns its manifest digest.
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	if err := remote.Write(r.Ref(t, repoTag), img, r.remoteOptions()...); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	d, _ := img.Digest()
	return d.String()
}

// PushIndex writes a multi-platform index of imgs to repo:tag.
// Platformed is one entry of an index.
type Platformed struct {
	Platform v1.Platform
	Image    v1.Image
}

func (r *Registry) PushIndex(t testing.TB, repoTag string, oci bool, imgs ...Platformed) string {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	if !oci {
		idx = mutate.IndexMediaType(idx, types.DockerManifestList)
	}
	for _, e := range imgs {
		mt, _ := e.Image.MediaType()
		p := e.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: e.Image, Descriptor: v1.Descriptor{MediaType: mt, Platform: &p}})
	}
	if err := remote.WriteIndex(r.Ref(t, repoTag), idx, r.remoteOptions()...); err != nil {
		t.Fatalf("push index %s: %v", repoTag, err)
	}
	d, _ := idx.Digest()
	return d.String()
}

// Layered is a three-layer root filesystem exercising what unpackers get
// wrong: whiteouts, an opaque directory, set-ID bits, owners, xattrs,
// hardlinks, symlinks, a fifo.
func Layered(t testing.TB) [][]Entry {
	suid := File("bin/su", 0o4755, "#!/bin/sh\necho su\n")
	x := File("etc/xattr", 0o600, "x")
	x.PAXRecords = map[string]string{"SCHILY.xattr.user.hull": "layer2"}
	owned := File("var/www/index.html", 0o640, "<h1>hull</h1>\n")
	owned.Uid, owned.Gid = 33, 50
	fifo := Entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "var/fifo", Mode: 0o600, ModTime: Epoch, Format: tar.FormatPAX}}
	return [][]Entry{
		append(Busybox(t),
			File("etc/motd", 0o644, "welcome\n"),
			Dir("usr/", 0o755), Dir("usr/share/", 0o755), Dir("usr/share/doc/", 0o755),
			File("usr/share/doc/a", 0o644, "a"), File("usr/share/doc/b", 0o644, "b"),
			Dir("opt/", 0o755), Dir("opt/old/", 0o755), File("opt/old/data", 0o644, "old"),
		),
		{
			Dir("etc/", 0o755), File("etc/.wh.motd", 0o644, ""), x,
			Dir("usr/share/doc/", 0o755), File("usr/share/doc/.wh..wh..opq", 0o644, ""), File("usr/share/doc/c", 0o644, "c"),
			Dir("opt/", 0o755), File("opt/.wh.old", 0o644, ""),
			suid, Hardlink("bin/su2", "bin/su"),
		},
		{Dir("var/", 0o755), Dir("var/www/", 0o755), owned, fifo, Symlink("var/www/home", "../../root"), File("etc/motd", 0o644, "back again\n")},
	}
}

// LayeredImage pushes Layered as repo:tag and returns the layers pushed.
func (r *Registry) LayeredImage(t testing.TB, repoTag string, c Compression, oci bool, cfg v1.Config) (string, []*Layer) {
	var ls []v1.Layer
	var out []*Layer
	for _, es := range Layered(t) {
		l := NewLayer(t, c, oci, Tar(t, es...))
		ls, out = append(ls, l), append(out, l)
	}
	return r.Push(t, repoTag, Image(t, oci, v1.Platform{OS: "linux", Architecture: "amd64"}, cfg, ls...)), out
}
