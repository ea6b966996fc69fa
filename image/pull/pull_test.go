package pull_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/image/store"
	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// events collects progress events.
type events struct {
	mu  sync.Mutex
	all []pull.Event
}

func (e *events) add(ev pull.Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() }
func (e *events) count(kind pull.EventKind, digest string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Kind == kind && (digest == "" || ev.Digest == digest) {
			n++
		}
	}
	return n
}

// requireRoot: whiteout devices and owners need root.
func requireRoot(t *testing.T) { t.Helper(); testvm.Require(t, testvm.Root) }

func TestPullMediaTypes(t *testing.T) {
	requireRoot(t)
	reg := registrytest.Start(t)
	for _, tc := range []struct {
		name string
		c    registrytest.Compression
		oci  bool
	}{
		{"docker-gzip", registrytest.Gzip, false},
		{"docker-uncompressed", registrytest.None, false},
		{"oci-gzip", registrytest.Gzip, true},
		{"oci-zstd", registrytest.Zstd, true},
		{"oci-uncompressed", registrytest.None, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			digest, layers := reg.LayeredImage(t, "layered/"+tc.name+":v1", tc.c, tc.oci, v1.Config{Cmd: []string{"/bin/sh"}})
			st := newStore(t)
			var ev events
			im, err := pull.Pull(context.Background(), st, reg.Addr+"/layered/"+tc.name+":v1", pull.WithProgress(ev.add))
			if err != nil {
				t.Fatal(err)
			}
			if im.Digest != digest || len(im.Layers) != 3 {
				t.Fatalf("pulled %s with %d layers, want %s with 3", im.Digest, len(im.Layers), digest)
			}
			wantType := map[bool]string{false: "application/vnd.docker.distribution.manifest.v2+json", true: "application/vnd.oci.image.manifest.v1+json"}[tc.oci]
			if im.MediaType != wantType {
				t.Errorf("manifest media type %s, want %s", im.MediaType, wantType)
			}
			for i, l := range layers {
				if d, _ := l.Digest(); im.Layers[i].Digest != d.String() {
					t.Errorf("layer %d digest %s, want %s", i, im.Layers[i].Digest, d)
				}
				if ev.count(pull.Unpacked, im.Layers[i].Digest) != 1 {
					t.Errorf("layer %d: %d unpacked events, want 1", i, ev.count(pull.Unpacked, im.Layers[i].Digest))
				}
			}
			// The second layer holds an overlay whiteout and an opaque dir.
			dir, _ := st.LayerDir(im.Layers[1].ChainID)
			var s unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, "etc/motd"), &s); err != nil || s.Mode&unix.S_IFMT != unix.S_IFCHR || s.Rdev != 0 {
				t.Errorf("layer 1 etc/motd is not a whiteout device: mode %o, %v", s.Mode, err)
			}
			buf := make([]byte, 2)
			if n, err := unix.Lgetxattr(filepath.Join(dir, "usr/share/doc"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
				t.Errorf("layer 1 usr/share/doc is not opaque: %q, %v", buf[:n], err)
			}
			got, err := st.Lookup(reg.Addr + "/layered/" + tc.name + ":v1")
			if err != nil || got.Digest != digest {
				t.Errorf("Lookup after pull = %v, %v", got.Digest, err)
			}
			// Pulling again fetches nothing.
			var again events
			if _, err := pull.Pull(context.Background(), st, reg.Addr+"/layered/"+tc.name+":v1", pull.WithProgress(again.add)); err != nil {
				t.Fatal(err)
			}
			if n := again.count(pull.Exists, ""); n != 3 || again.count(pull.Downloading, "") != 0 {
				t.Errorf("second pull: %d exists, %d downloading events; want 3 and 0", n, again.count(pull.Downloading, ""))
			}
		})
	}
}

func TestPullIndex(t *testing.T) {
	reg := registrytest.Start(t)
	var entries []registrytest.Platformed
	for _, arch := range []string{"amd64", "arm64", "s390x"} {
		p := v1.Platform{OS: "linux", Architecture: arch}
		if arch == "arm64" {
			p.Variant = "v8"
		}
		l := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, registrytest.File("arch", 0o644, arch)))
		entries = append(entries, registrytest.Platformed{Platform: p, Image: registrytest.Image(t, true, p, v1.Config{}, l)})
	}
	for _, oci := range []bool{true, false} {
		tag := fmt.Sprintf("multi:oci-%v", oci)
		idx := reg.PushIndex(t, tag, oci, entries...)
		for _, tc := range []struct{ platform, want string }{{"", "amd64"}, {"linux/arm64", "arm64"}, {"linux/arm64/v8", "arm64"}, {"linux/s390x", "s390x"}} {
			st := newStore(t)
			var opts []pull.Option
			if tc.platform != "" {
				opts = append(opts, pull.WithPlatform(tc.platform))
			}
			if tc.platform == "" && pull.HostPlatform().Architecture != "amd64" {
				continue
			}
			im, err := pull.Pull(context.Background(), st, reg.Addr+"/"+tag, append(opts, pull.WithUnpackOptions())...)
			if err != nil {
				t.Fatalf("%s %q: %v", tag, tc.platform, err)
			}
			if im.Index != idx {
				t.Errorf("index digest %s, want %s", im.Index, idx)
			}
			dir, _ := st.LayerDir(im.TopLayer())
			if b, err := os.ReadFile(filepath.Join(dir, "arch")); string(b) != tc.want {
				t.Errorf("%s platform %q: got the %q image (%v), want %s", tag, tc.platform, b, err, tc.want)
			}
		}
		// By digest: the record is named repo@digest, the image chosen the same way.
		st := newStore(t)
		byDigest := reg.Addr + "/multi@" + idx
		im, err := pull.Pull(context.Background(), st, byDigest, pull.WithPlatform("linux/s390x"))
		if err != nil {
			t.Fatalf("pull %s: %v", byDigest, err)
		}
		if got, err := st.Lookup(byDigest); err != nil || got.Digest != im.Digest || im.Index != idx {
			t.Errorf("Lookup(%s) = %s, %v; pulled %s from index %s", byDigest, got.Digest, err, im.Digest, im.Index)
		}
		_, err = pull.Pull(context.Background(), newStore(t), reg.Addr+"/"+tag, pull.WithPlatform("linux/riscv64"))
		if err == nil || !strings.Contains(err.Error(), "no image for platform linux/riscv64") {
			t.Errorf("pull for a missing platform = %v, want a clear error", err)
		}
	}
}

func TestPullBasicAuth(t *testing.T) {
	reg := registrytest.Start(t, registrytest.WithBasicAuth("hull", "s3cret"))
	reg.LayeredImage(t, "private/app:v1", registrytest.Gzip, true, v1.Config{})
	ref := reg.Addr + "/private/app:v1"
	writeDockerConfig := func(pass string) {
		dir := t.TempDir()
		auth := base64.StdEncoding.EncodeToString([]byte("hull:" + pass))
		b, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Addr: map[string]string{"auth": auth}}})
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DOCKER_CONFIG", dir)
	}
	writeDockerConfig("wrong")
	st := newStore(t)
	_, err := pull.Pull(context.Background(), st, ref, pull.WithUnpackOptions())
	if !errors.Is(err, pull.ErrUnauthorized) || !strings.Contains(err.Error(), reg.Addr) {
		t.Fatalf("pull with a wrong password = %v, want ErrUnauthorized naming the registry", err)
	}
	t.Logf("wrong password: %v", err)
	if ims, _ := st.Images(); len(ims) != 0 {
		t.Errorf("a refused pull stored %d images", len(ims))
	}
	writeDockerConfig("s3cret")
	testvm.Require(t, testvm.Root) // the rest sets owners
	if _, err := pull.Pull(context.Background(), st, ref); err != nil {
		t.Fatalf("pull with the right password from $DOCKER_CONFIG/config.json: %v", err)
	}
	// A credential helper named in config.json: docker-credential-NAME get
	// reads the server on stdin and prints the secret as JSON.
	helperDir, cfgDir := t.TempDir(), t.TempDir()
	helper := `#!/bin/sh
[ "$1" = get ] || exit 1
read server
printf '{"ServerURL":"%s","Username":"hull","Secret":"s3cret"}\n' "$server"
`
	if err := os.WriteFile(filepath.Join(helperDir, "docker-credential-hulltest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", helperDir+":"+os.Getenv("PATH"))
	hb, _ := json.Marshal(map[string]any{"credHelpers": map[string]string{reg.Addr: "hulltest"}})
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), hb, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfgDir)
	if _, err := pull.Pull(context.Background(), newStore(t), ref); err != nil {
		t.Fatalf("pull with a credential helper: %v", err)
	}

	// containers' auth.json (podman, skopeo, buildah) when docker has none.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	authFile := filepath.Join(t.TempDir(), "auth.json")
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Addr: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte("hull:s3cret"))}}})
	if err := os.WriteFile(authFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_AUTH_FILE", authFile)
	if _, err := pull.Pull(context.Background(), newStore(t), ref); err != nil {
		t.Fatalf("pull with the password from $REGISTRY_AUTH_FILE: %v", err)
	}
}

func TestPullTLSCustomCA(t *testing.T) {
	requireRoot(t)
	reg := registrytest.Start(t, registrytest.WithTLS())
	reg.LayeredImage(t, "secure/app:v1", registrytest.Zstd, true, v1.Config{})
	ref := reg.Addr + "/secure/app:v1"
	if _, err := pull.Pull(context.Background(), newStore(t), ref); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("pull without the CA = %v, want a certificate error", err)
	}
	cfg := &pull.Config{Registries: map[string]pull.Registry{reg.Addr: {CAFile: reg.CAFile}}}
	if _, err := pull.Pull(context.Background(), newStore(t), ref, pull.WithConfig(cfg)); err != nil {
		t.Fatalf("pull with the CA: %v", err)
	}
	cfg = &pull.Config{Registries: map[string]pull.Registry{reg.Addr: {Insecure: true}}}
	if _, err := pull.Pull(context.Background(), newStore(t), ref, pull.WithConfig(cfg)); err != nil {
		t.Fatalf("pull with insecure TLS: %v", err)
	}
}

func TestPullCorruptBlob(t *testing.T) {
	reg := registrytest.Start(t)
	good1 := registrytest.NewLayer(t, registrytest.Gzip, false, registrytest.Tar(t, registrytest.File("g1", 0o644, "good")))
	good2 := registrytest.NewLayer(t, registrytest.Gzip, false, registrytest.Tar(t, registrytest.File("g2", 0o644, "good too")))
	l := registrytest.NewLayer(t, registrytest.Gzip, false, registrytest.Tar(t, registrytest.File("f", 0o644, strings.Repeat("data", 1000))))
	reg.Push(t, "corrupt:v1", registrytest.Image(t, false, pull.HostPlatform(), v1.Config{}, good1, l, good2))
	d, _ := l.Digest()
	reg.Corrupt(t, d.Hex)
	st := newStore(t)
	_, err := pull.Pull(context.Background(), st, reg.Addr+"/corrupt:v1", pull.WithUnpackOptions())
	if !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("pull of a corrupted blob = %v, want ErrDigestMismatch", err)
	}
	t.Logf("corrupted blob: %v", err)
	for _, sub := range []string{"layers", "images", "blobs/sha256", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(st.Root(), sub)); len(ents) != 0 {
			t.Errorf("%s/ holds %d entries after a rejected pull", sub, len(ents))
		}
	}
}

func TestPullConcurrentSharedLayers(t *testing.T) {
	requireRoot(t)
	reg := registrytest.Start(t)
	base := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, registrytest.Busybox(t)...))
	var refs []string
	for i := range 4 {
		top := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, registrytest.File(fmt.Sprintf("app%d", i), 0o644, "x")))
		reg.Push(t, fmt.Sprintf("app%d:v1", i), registrytest.Image(t, true, pull.HostPlatform(), v1.Config{}, base, top))
		refs = append(refs, fmt.Sprintf("%s/app%d:v1", reg.Addr, i))
	}
	st := newStore(t)
	var ev events
	var wg sync.WaitGroup
	for _, ref := range append(refs, refs...) { // each image twice, all at once
		wg.Go(func() {
			if _, err := pull.Pull(context.Background(), st, ref, pull.WithProgress(ev.add)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	bd, _ := base.Digest()
	if n := ev.count(pull.Unpacked, bd.String()); n != 1 {
		t.Errorf("the shared layer was unpacked %d times, want once", n)
	}
	ims, _ := st.Images()
	if len(ims) != 4 {
		t.Errorf("%d images stored, want 4", len(ims))
	}
	if ents, _ := os.ReadDir(filepath.Join(st.Root(), "layers")); len(ents) != 5 {
		t.Errorf("%d layers stored, want 5 (one shared + four)", len(ents))
	}
}

// TestPullResumesAfterRegistryRestart kills the registry in the middle of
// a layer download and starts it again: the pull must carry on from where
// it stopped (HTTP Range), not start over, and verify.
func TestPullResumesAfterRegistryRestart(t *testing.T) {
	reg := registrytest.Start(t)
	big := make([]byte, 48<<20) // random: incompressible, so the blob is as big
	rand.Read(big)
	l := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, registrytest.File("big", 0o644, string(big))))
	reg.Push(t, "big:v1", registrytest.Image(t, true, pull.HostPlatform(), v1.Config{}, l))
	st := newStore(t)
	var ev events
	var once sync.Once
	progress := func(e pull.Event) {
		ev.add(e)
		if e.Kind == pull.Downloading && e.Current > 4<<20 && e.Current < e.Total/2 {
			once.Do(func() {
				reg.Stop()
				reg.Restart()
			})
		}
	}
	im, err := pull.Pull(context.Background(), st, reg.Addr+"/big:v1", pull.WithProgress(progress),
		pull.WithRetries(8, 100e6), pull.WithUnpackOptions())
	if err != nil {
		t.Fatal(err)
	}
	ld, _ := l.Digest()
	if ev.count(pull.Resumed, ld.String()) == 0 {
		t.Fatal("the download never resumed: the registry restart went unnoticed")
	}
	for _, e := range ev.all {
		if e.Kind == pull.Resumed {
			t.Logf("resumed at byte %d of %d after: %s", e.Current, e.Total, e.Err)
			if e.Current == 0 {
				t.Errorf("resumed from byte 0: no progress was kept")
			}
		}
	}
	dir, _ := st.LayerDir(im.TopLayer())
	got, err := os.ReadFile(filepath.Join(dir, "big"))
	if err != nil || string(got) != string(big) {
		t.Errorf("the resumed layer's content differs (%d bytes, %v)", len(got), err)
	}
}

// TestPullMirrors: a mirror that lacks the image is skipped; a mirror that
// has it serves it even when the origin is down.
func TestPullMirrors(t *testing.T) {
	requireRoot(t)
	origin, mirror, empty, corrupt := registrytest.Start(t), registrytest.Start(t), registrytest.Start(t), registrytest.Start(t)
	var layers []*registrytest.Layer
	for _, r := range []*registrytest.Registry{origin, mirror, corrupt} {
		_, layers = r.LayeredImage(t, "lib/app:v1", registrytest.Gzip, true, v1.Config{})
	}
	ref := origin.Addr + "/lib/app:v1"
	// A mirror serving a corrupt layer is skipped for the origin.
	d, _ := layers[2].Digest()
	corrupt.Corrupt(t, d.Hex)
	cfg := &pull.Config{Registries: map[string]pull.Registry{origin.Addr: {Mirrors: []string{corrupt.Addr}}}}
	if _, err := pull.Pull(context.Background(), newStore(t), ref, pull.WithConfig(cfg)); err != nil {
		t.Fatalf("pull past a corrupt mirror: %v", err)
	}

	cfg = &pull.Config{Registries: map[string]pull.Registry{origin.Addr: {Mirrors: []string{empty.Addr, mirror.Addr}}}}
	origin.Stop()
	st := newStore(t)
	im, err := pull.Pull(context.Background(), st, ref, pull.WithConfig(cfg))
	if err != nil {
		t.Fatalf("pull through the mirror: %v", err)
	}
	if got, err := st.Lookup(ref); err != nil || got.Digest != im.Digest {
		t.Errorf("the image is not recorded under its own name %s: %v", ref, err)
	}
	mirror.Stop()
	_, err = pull.Pull(context.Background(), newStore(t), ref, pull.WithConfig(cfg), pull.WithRetries(0, 0))
	if err == nil || !strings.Contains(err.Error(), empty.Addr) || !strings.Contains(err.Error(), origin.Addr) {
		t.Errorf("pull with every source failing = %v, want an error naming each", err)
	}
}

// TestPullHostileLayers pushes layers built to escape the layer directory;
// each pull must fail naming the entry, store nothing, and leave the host
// untouched.
func TestPullHostileLayers(t *testing.T) {
	reg := registrytest.Start(t)
	canaryDir := t.TempDir()
	victim := filepath.Join(canaryDir, "victim")
	if err := os.WriteFile(victim, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", 20)
	for _, tc := range []struct {
		name    string
		entries []registrytest.Entry
		bad     string
	}{
		{"dotdot", []registrytest.Entry{registrytest.File(up+canaryDir[1:]+"/new", 0o644, "pwned")}, up + canaryDir[1:] + "/new"},
		{"absolute", []registrytest.Entry{registrytest.File(canaryDir+"/new", 0o644, "pwned")}, canaryDir + "/new"},
		{"symlink", []registrytest.Entry{registrytest.Symlink("evil", canaryDir), registrytest.File("evil/victim", 0o644, "pwned")}, "evil/victim"},
		{"hardlink", []registrytest.Entry{registrytest.Hardlink("h", victim)}, "h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, tc.entries...))
			reg.Push(t, "hostile/"+tc.name+":v1", registrytest.Image(t, true, pull.HostPlatform(), v1.Config{}, l))
			st := newStore(t)
			_, err := pull.Pull(context.Background(), st, reg.Addr+"/hostile/"+tc.name+":v1", pull.WithUnpackOptions())
			var ee *layer.EntryError
			if !errors.As(err, &ee) || ee.Name != tc.bad || !errors.Is(err, layer.ErrUnsafe) {
				t.Fatalf("pull = %v, want an unsafe-entry error naming %q", err, tc.bad)
			}
			t.Logf("rejected: %v", err)
			for _, sub := range []string{"layers", "images", "blobs/sha256", "tmp"} {
				if ents, _ := os.ReadDir(filepath.Join(st.Root(), sub)); len(ents) != 0 {
					t.Errorf("%s/ holds %d entries after a rejected pull", sub, len(ents))
				}
			}
			ents, _ := os.ReadDir(canaryDir)
			b, _ := os.ReadFile(victim)
			if len(ents) != 1 || string(b) != "original" {
				t.Errorf("the host changed: %d entries beside the victim, victim %q", len(ents)-1, b)
			}
		})
	}
}

// TestPullWrongDiffID: a config that lies about a layer's uncompressed
// digest (the blob itself is intact) fails the pull with nothing stored.
func TestPullWrongDiffID(t *testing.T) {
	reg := registrytest.Start(t)
	l := registrytest.NewLayer(t, registrytest.Zstd, true, registrytest.Tar(t, registrytest.File("f", 0o644, "real")))
	l.Raw = registrytest.Tar(t, registrytest.File("f", 0o644, "claimed")) // what DiffID hashes
	reg.Push(t, "liar:v1", registrytest.Image(t, true, pull.HostPlatform(), v1.Config{}, l))
	st := newStore(t)
	_, err := pull.Pull(context.Background(), st, reg.Addr+"/liar:v1", pull.WithUnpackOptions(layer.WithoutOwnership()))
	if !errors.Is(err, store.ErrDigestMismatch) || !strings.Contains(err.Error(), "diffID") {
		t.Fatalf("pull = %v, want a diffID mismatch", err)
	}
	for _, sub := range []string{"layers", "images", "blobs/sha256", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(st.Root(), sub)); len(ents) != 0 {
			t.Errorf("%s/ holds %d entries after a rejected pull", sub, len(ents))
		}
	}
}

// TestPullPartialDownloads: a partial download kept by an interrupted pull
// is resumed; one with bad bytes (as a host crash can leave) costs a
// restart from nothing, not a failed pull.
func TestPullPartialDownloads(t *testing.T) {
	reg := registrytest.Start(t)
	body := strings.Repeat("hull resumes partial downloads\n", 20000)
	l := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, registrytest.File("f", 0o644, body)))
	reg.Push(t, "partial:v1", registrytest.Image(t, true, pull.HostPlatform(), v1.Config{}, l))
	d, _ := l.Digest()
	for _, tc := range []struct {
		name    string
		partial []byte
	}{
		{"good", l.Blob[:len(l.Blob)/2]},
		{"bad", bytes.Repeat([]byte{0}, len(l.Blob)/2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			if err := os.WriteFile(filepath.Join(st.Root(), "tmp", "partial-"+d.Hex), tc.partial, 0o600); err != nil {
				t.Fatal(err)
			}
			var ev events
			im, err := pull.Pull(context.Background(), st, reg.Addr+"/partial:v1", pull.WithProgress(ev.add), pull.WithUnpackOptions(layer.WithoutOwnership()))
			if err != nil {
				t.Fatal(err)
			}
			if ev.count(pull.Resumed, d.String()) != 1 {
				t.Errorf("%d resumed events, want 1", ev.count(pull.Resumed, d.String()))
			}
			dir, _ := st.LayerDir(im.TopLayer())
			if b, err := os.ReadFile(filepath.Join(dir, "f")); string(b) != body {
				t.Errorf("content after resuming from a %s partial: %d bytes, %v", tc.name, len(b), err)
			}
			if ents, _ := os.ReadDir(filepath.Join(st.Root(), "tmp")); len(ents) != 0 {
				t.Errorf("tmp/ holds %d entries after the pull", len(ents))
			}
		})
	}
}

// TestPullCancelled: an interrupted pull (Ctrl-C cancels the context)
// records no image but keeps what it downloaded; the next pull resumes.
func TestPullCancelled(t *testing.T) {
	reg := registrytest.Start(t)
	big := make([]byte, 32<<20)
	rand.Read(big)
	l := registrytest.NewLayer(t, registrytest.None, true, registrytest.Tar(t, registrytest.File("big", 0o644, string(big))))
	reg.Push(t, "cancel:v1", registrytest.Image(t, true, pull.HostPlatform(), v1.Config{}, l))
	d, _ := l.Digest()
	st := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := pull.Pull(ctx, st, reg.Addr+"/cancel:v1", pull.WithUnpackOptions(layer.WithoutOwnership()), pull.WithProgress(func(e pull.Event) {
		if e.Kind == pull.Downloading && e.Current > 4<<20 {
			cancel()
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pull = %v, want context.Canceled", err)
	}
	if ims, _ := st.Images(); len(ims) != 0 {
		t.Errorf("a cancelled pull recorded %d images", len(ims))
	}
	fi, err := os.Stat(filepath.Join(st.Root(), "tmp", "partial-"+d.Hex))
	if err != nil || fi.Size() < 4<<20 {
		t.Fatalf("the partial download was not kept: %v", err)
	}
	var ev events
	if _, err := pull.Pull(context.Background(), st, reg.Addr+"/cancel:v1", pull.WithProgress(ev.add), pull.WithUnpackOptions(layer.WithoutOwnership())); err != nil {
		t.Fatal(err)
	}
	if ev.count(pull.Resumed, d.String()) != 1 {
		t.Errorf("the second pull did not resume the kept download")
	}
}
