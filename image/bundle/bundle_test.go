package bundle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hullrt/hull/image/bundle"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/image/store"
	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func userDB(t *testing.T) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n# comment\nwww:x:33:33::/var/www:/bin/sh\nbad line\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nwww:x:33:\nstaff:x:50:www,other\nadm:x:4:www\n"), 0o644)
	return root
}

func TestResolveUser(t *testing.T) {
	root := userDB(t)
	for _, tc := range []struct {
		user    string
		want    specs.User
		wantErr string
	}{
		{user: "www", want: specs.User{UID: 33, GID: 33, AdditionalGids: []uint32{50, 4}}},
		{user: "www:staff", want: specs.User{UID: 33, GID: 50}},
		{user: "www:7", want: specs.User{UID: 33, GID: 7}},
		{user: "33", want: specs.User{UID: 33, GID: 33, AdditionalGids: []uint32{50, 4}}},
		{user: "1234", want: specs.User{UID: 1234, GID: 0}},
		{user: "1234:99", want: specs.User{UID: 1234, GID: 99}},
		{user: "root", want: specs.User{UID: 0, GID: 0}},
		{user: "ghost", wantErr: `no user "ghost"`},
		{user: "www:ghosts", wantErr: `no group "ghosts"`},
	} {
		got, err := bundle.ResolveUser(root, tc.user)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ResolveUser(%q) = %v, want error %q", tc.user, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ResolveUser(%q) = %+v, %v; want %+v", tc.user, got, err, tc.want)
		}
	}
}

// An image whose /etc/passwd points at a host file must not make the
// converter read the host's.
func TestResolveUserSymlinkEscape(t *testing.T) {
	root := t.TempDir()
	host := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(host, []byte("hostuser:x:4242:4242::/:/bin/sh\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink(host, filepath.Join(root, "etc/passwd"))
	if u, err := bundle.ResolveUser(root, "hostuser"); err == nil {
		t.Fatalf("ResolveUser read the host's passwd through a symlink: %+v", u)
	}
	os.Remove(filepath.Join(root, "etc/passwd"))
	os.Symlink("../../../../../../.."+host, filepath.Join(root, "etc/passwd"))
	if u, err := bundle.ResolveUser(root, "hostuser"); err == nil {
		t.Fatalf("ResolveUser read the host's passwd through a relative symlink: %+v", u)
	}
}

func TestSpec(t *testing.T) {
	base := runtime.DefaultSpec(false)
	baseJSON, _ := json.Marshal(base)
	cfg := &v1.ConfigFile{
		OS: "linux", Architecture: "amd64", Author: "hull team",
		Created: v1.Time{Time: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)},
		Config: v1.Config{
			Entrypoint: []string{"/bin/httpd"}, Cmd: []string{"-f", "-p", "80"},
			Env:        []string{"PATH=/opt/bin:/bin", "LANG=C.UTF-8"},
			WorkingDir: "/var/www", User: "www", StopSignal: "SIGQUIT",
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "443/tcp": {}},
			Volumes:      map[string]struct{}{"/data": {}},
			Labels:       map[string]string{"org.example.team": "images", bundle.AnnotationAuthor: "label wins"},
		},
	}
	s, err := bundle.Spec(cfg, userDB(t), base)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(base); string(after) != string(baseJSON) {
		t.Error("Spec modified its base")
	}
	p := s.Process
	if got := strings.Join(p.Args, " "); got != "/bin/httpd -f -p 80" {
		t.Errorf("args = %q", got)
	}
	if got := strings.Join(p.Env, " "); got != "PATH=/opt/bin:/bin TERM=xterm LANG=C.UTF-8" {
		t.Errorf("env = %q", got)
	}
	if p.Cwd != "/var/www" || p.User.UID != 33 || p.User.GID != 33 {
		t.Errorf("cwd %q user %+v", p.Cwd, p.User)
	}
	for k, v := range map[string]string{
		bundle.AnnotationOS: "linux", bundle.AnnotationArchitecture: "amd64", bundle.AnnotationAuthor: "label wins",
		bundle.AnnotationCreated: "2024-05-01T12:00:00Z", bundle.AnnotationStopSignal: "SIGQUIT",
		bundle.AnnotationExposedPorts: "443/tcp,80/tcp", bundle.AnnotationVolumes: "/data", "org.example.team": "images",
	} {
		if s.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, s.Annotations[k], v)
		}
	}
	cfg.Config.WorkingDir = "srv/app/"
	if rel, err := bundle.Spec(cfg, userDB(t), base); err != nil {
		t.Error(err)
	} else if rel.Process.Cwd != "/srv/app" {
		t.Errorf("relative WorkingDir: cwd %q, want /srv/app", rel.Process.Cwd)
	}
	if len(s.Linux.Namespaces) != len(base.Linux.Namespaces) || len(s.Linux.MaskedPaths) == 0 {
		t.Error("the base's namespaces and masked paths were lost")
	}
}

// TestWriteMatchesUmoci pulls a layered image from a real registry and
// writes a bundle; skopeo and umoci do the same from the same registry.
// The two root filesystems must be equal file by file (type, mode with
// set-ID bits, owner, content, link target, device, xattrs, mtime).
func TestWriteMatchesUmoci(t *testing.T) {
	testvm.Require(t, testvm.Root) // owners, devices and whiteouts
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing: CI must install the %s package", tool, tool)
			}
			t.Skipf("%s missing: apt-get install %s", tool, tool)
		}
	}
	reg := registrytest.Start(t)
	cfg := v1.Config{Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi"}, Env: []string{"HELLO=hull"}, WorkingDir: "/var/www", User: "www"}
	reg.LayeredImage(t, "layered:v1", registrytest.Gzip, true, cfg)
	ref := reg.Addr + "/layered:v1"
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	im, err := pull.Pull(context.Background(), st, ref)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	ours, theirs := filepath.Join(tmp, "hull"), filepath.Join(tmp, "umoci")
	if err := bundle.Write(context.Background(), st, im, ours, runtime.DefaultSpec(false)); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(tmp, "layout")+":v1")
	run("umoci", "unpack", "--image", filepath.Join(tmp, "layout")+":v1", theirs)

	a, b := registrytest.Tree(t, filepath.Join(ours, "rootfs")), registrytest.Tree(t, filepath.Join(theirs, "rootfs"))
	if diff := registrytest.DiffTrees(a, b); len(diff) > 0 {
		t.Errorf("hull's rootfs and umoci's differ (first hull, then umoci):\n%s", strings.Join(diff, "\n"))
	}
	if len(a) < 20 {
		t.Errorf("only %d entries compared", len(a))
	}

	var hs, us specs.Spec
	for p, s := range map[string]*specs.Spec{ours: &hs, theirs: &us} {
		b, err := os.ReadFile(filepath.Join(p, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, s); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(hs.Process.Args, us.Process.Args) || hs.Process.Cwd != us.Process.Cwd ||
		hs.Process.User.UID != us.Process.User.UID || hs.Process.User.GID != us.Process.User.GID {
		t.Errorf("process differs from umoci's:\nhull  %+v\numoci %+v", *hs.Process, *us.Process)
	}
}

// TestWriteHoldsStore removes an image and prunes the store while Write
// copies it: the prune must wait for the copy (Write holds the store's
// shared lock) rather than delete the layer under it.
func TestWriteHoldsStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Many small files first, then a big one: the copy takes a while, and
	// a layer deleted during it would break the walk.
	big := strings.Repeat("hull", 8<<20)
	id := store.Digest([]byte("held layer"))
	_, err = st.CreateLayer(ctx, store.LayerInfo{ChainID: id, DiffID: id}, func(ctx context.Context, dir string) (int64, error) {
		if err := os.Mkdir(filepath.Join(dir, "a"), 0o755); err != nil {
			return 0, err
		}
		for i := range 2000 {
			if err := os.WriteFile(filepath.Join(dir, "a", fmt.Sprintf("f%04d", i)), []byte("small"), 0o644); err != nil {
				return 0, err
			}
		}
		if err := os.Mkdir(filepath.Join(dir, "z"), 0o755); err != nil {
			return 0, err
		}
		return int64(len(big)), os.WriteFile(filepath.Join(dir, "z/big"), []byte(big), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["` + id + `"]}}`)
	if err := st.PutBlob(store.Digest(cfg), cfg); err != nil {
		t.Fatal(err)
	}
	im := store.Image{Digest: store.Digest([]byte("held manifest")), Config: store.Descriptor{Digest: store.Digest(cfg), Size: int64(len(cfg))},
		Layers: []store.Layer{{ChainID: id, DiffID: id}}}
	if err := st.PutImage(ctx, im, "example.com/held:v1"); err != nil {
		t.Fatal(err)
	}
	// From here no image refers to the layer: Prune would take it.
	if _, err := st.Remove(ctx, "example.com/held:v1"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bundle")
	done := make(chan error, 1)
	go func() { done <- bundle.Write(ctx, st, im, dir, runtime.DefaultSpec(false)) }()
	for {
		if _, err := os.Stat(filepath.Join(dir, "rootfs/a")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Write returned (%v) before the test saw it copy", err)
		case <-time.After(time.Millisecond):
		}
	}
	rep, err := st.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fi, statErr := os.Stat(filepath.Join(dir, "rootfs/z/big"))
	if err := <-done; err != nil {
		t.Fatalf("Write with a prune running alongside: %v", err)
	}
	if statErr != nil || fi.Size() != int64(len(big)) {
		t.Errorf("when Prune returned, the copy was not complete (z/big: %v): Prune did not wait for Write", statErr)
	}
	if len(rep.Layers) != 1 {
		t.Errorf("Prune removed layers %v, want the one no image uses once Write is done", rep.Layers)
	}
}
