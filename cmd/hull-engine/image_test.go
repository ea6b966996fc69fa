package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/integration/testvm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestImageCLI drives every "hull image" verb against a real registry on
// loopback and checks what they leave in the store and on disk.
func TestImageCLI(t *testing.T) {
	testvm.Require(t, testvm.Root)
	reg := registrytest.Start(t)
	reg.LayeredImage(t, "cli/app:v1", registrytest.Gzip, false, v1.Config{
		Cmd: []string{"/bin/sh", "-c", "echo hello from $HELLO"}, Env: []string{"HELLO=hull"}, User: "www", WorkingDir: "/var/www",
	})
	ref := reg.Addr + "/cli/app:v1"
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	hull := func(wantOK bool, args ...string) string {
		t.Helper()
		full := append([]string{"image", "--store", storeDir, "--registries", filepath.Join(dir, "none.json")}, args...)
		out, err := exec.Command(testvm.Hull(t), full...).CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("hull %s: %v\n%s", strings.Join(full, " "), err, out)
		}
		return string(out)
	}

	// JSON progress: one event per line, ending with "done".
	out := hull(true, "pull", "--format", "json", ref)
	var last pull.Event
	kinds := map[pull.EventKind]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("pull --format json printed a non-JSON line %q: %v", sc.Text(), err)
		}
		kinds[last.Kind]++
	}
	if last.Kind != pull.Done || kinds[pull.Unpacked] != 3 {
		t.Errorf("json events %v ending with %q, want 3 unpacked and done", kinds, last.Kind)
	}
	// Plain progress on a pipe; nothing is downloaded twice.
	if out = hull(true, "pull", ref); strings.Count(out, "already exists") != 3 {
		t.Errorf("second pull should report 3 existing layers:\n%s", out)
	}
	hull(true, "tag", ref, "example.com/renamed:v2")
	ls := hull(true, "ls")
	for _, want := range []string{ref, "example.com/renamed:v2", "linux/amd64"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls lacks %q:\n%s", want, ls)
		}
	}
	var inspect struct {
		Digest string            `json:"digest"`
		Layers []json.RawMessage `json:"layers"`
		Config v1.ConfigFile     `json:"imageConfig"`
	}
	if err := json.Unmarshal([]byte(hull(true, "inspect", "example.com/renamed:v2")), &inspect); err != nil {
		t.Fatal(err)
	}
	if len(inspect.Layers) != 3 || inspect.Config.Config.User != "www" {
		t.Errorf("inspect: %d layers, user %q", len(inspect.Layers), inspect.Config.Config.User)
	}

	// mount: the overlay of the store's layer directories, explained, then done.
	if out = hull(true, "mount", "--explain", ref, "/mnt/x"); !strings.HasPrefix(out, "mount -t overlay overlay -o lowerdir="+storeDir) || !strings.HasSuffix(out, " /mnt/x\n") {
		t.Errorf("mount --explain: %s", out)
	}
	target := filepath.Join(dir, "mnt")
	os.Mkdir(target, 0o755)
	hull(true, "mount", ref, target)
	t.Cleanup(func() { syscall.Unmount(target, syscall.MNT_DETACH) }) // if the test fails before umount
	motd, err := os.ReadFile(filepath.Join(target, "etc/motd"))
	if err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644); err == nil {
		t.Error("a mount without --upper is writable")
	}
	hull(true, "umount", target)
	if string(motd) != "back again\n" {
		t.Errorf("etc/motd through the mount = %q, %v", motd, err)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), " "+target+" ") {
		t.Error("still mounted after umount")
	}

	bundleDir := filepath.Join(dir, "bundle")
	hull(true, "unpack", ref, bundleDir)
	b, err := os.ReadFile(filepath.Join(bundleDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if strings.Join(spec.Process.Args, " ") != "/bin/sh -c echo hello from $HELLO" || spec.Process.User.UID != 33 || spec.Root.Path != "rootfs" {
		t.Errorf("config.json process %+v root %+v", spec.Process, spec.Root)
	}
	if _, err := os.Stat(filepath.Join(bundleDir, "rootfs/bin/busybox")); err != nil {
		t.Error(err)
	}
	if out = hull(false, "unpack", "never/pulled:v1", filepath.Join(dir, "b2")); !strings.Contains(out, "pull it first") {
		t.Errorf("unpack of a missing image: %s", out)
	}

	hull(true, "rm", ref)
	hull(true, "rm", "example.com/renamed:v2")
	if ls = hull(true, "ls", "-q"); strings.TrimSpace(ls) != "" {
		t.Errorf("ls after rm:\n%s", ls)
	}
	if out = hull(true, "prune"); !strings.Contains(out, "removed 3 layers, 2 blobs") {
		t.Errorf("prune: %s", out)
	}
	for _, sub := range []string{"layers", "blobs/sha256", "images", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(storeDir, sub)); len(ents) != 0 {
			t.Errorf("store %s/ not empty after rm and prune", sub)
		}
	}
}

// TestImageUnpackRuns pulls an image, unpacks it with "hull image unpack"
// and runs the bundle with "hull run": the image's own Entrypoint and Cmd,
// as the image's user, in its working directory, with its environment.
func TestImageUnpackRuns(t *testing.T) {
	testvm.Require(t, testvm.Root)
	hullBin := testvm.Hull(t)
	if err := exec.Command(hullBin, "run", "--help").Run(); err != nil {
		t.Skip("this hull has no run verb yet")
	}
	reg := registrytest.Start(t)
	reg.LayeredImage(t, "run/app:v1", registrytest.Gzip, true, v1.Config{
		Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"id; pwd; echo hello from $HELLO"},
		Env: []string{"HELLO=hull"}, User: "www", WorkingDir: "/var/www",
	})
	ref := reg.Addr + "/run/app:v1"
	dir := t.TempDir()
	bundleDir := filepath.Join(dir, "bundle")
	for _, args := range [][]string{{"pull", "-q", ref}, {"unpack", ref, bundleDir}} {
		full := append([]string{"image", "--store", filepath.Join(dir, "store"), "--registries", filepath.Join(dir, "none.json")}, args...)
		if out, err := exec.Command(hullBin, full...).CombinedOutput(); err != nil {
			t.Fatalf("hull %s: %v\n%s", strings.Join(full, " "), err, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(bundleDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(spec.Process.Args, " "), "/bin/sh -c id; pwd; echo hello from $HELLO"; got != want {
		t.Fatalf("config.json process.args = %q, want the image's Entrypoint and Cmd %q", got, want)
	}
	// The bundle runs as it is, but for the terminal ("runc spec"'s
	// default): this test reads the output through a pipe.
	spec.Process.Terminal = false
	if b, err = json.Marshal(spec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundleDir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(hullBin, "--root", filepath.Join(dir, "state"), "run", "--bundle", bundleDir, "image-cli-test")
	runOut, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("hull run of the unpacked bundle: %v\n%s", err, runOut)
	}
	for _, want := range []string{"uid=33(www) gid=33(www) groups=50(staff)", "/var/www", "hello from hull"} {
		if !strings.Contains(string(runOut), want) {
			t.Errorf("hull run output lacks %q:\n%s", want, runOut)
		}
	}
	if out, err := exec.Command(hullBin, "--root", filepath.Join(dir, "state"), "list", "-q").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("containers left after run: %q, %v", out, err)
	}
}

// TestImagePullKilled kills "hull image pull" (SIGKILL: no cleanup runs) in
// the middle of a layer download. The store must stay consistent: no
// partial layer under layers/, no image record; pulling again completes,
// and prune removes the dead pull's leftovers.
func TestImagePullKilled(t *testing.T) {
	testvm.Require(t, testvm.Root)
	hullBin := testvm.Hull(t)
	reg := registrytest.Start(t)
	// Big enough that the pull cannot finish in the moment between
	// printing an event and this test reading it.
	big := make([]byte, 192<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>13) // poorly compressible, cheap to make
	}
	l := registrytest.NewLayer(t, registrytest.None, true, registrytest.Tar(t, registrytest.File("big", 0o644, string(big))))
	small := registrytest.NewLayer(t, registrytest.Gzip, true, registrytest.Tar(t, registrytest.File("small", 0o644, "s")))
	reg.Push(t, "killed:v1", registrytest.Image(t, true, pull.HostPlatform(), v1.Config{}, small, l))
	ref := reg.Addr + "/killed:v1"
	storeDir := filepath.Join(t.TempDir(), "store")
	args := []string{"image", "--store", storeDir, "--registries", "/nonexistent.json", "pull", "--format", "json", ref}

	cmd := exec.Command(hullBin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	bd, _ := l.Digest()
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		var e pull.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind == pull.Downloading && e.Digest == bd.String() && e.Current < e.Total {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the pull finished before it could be killed")
	}
	ents, _ := os.ReadDir(filepath.Join(storeDir, "layers"))
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(storeDir, "layers", e.Name(), "layer.json")); err != nil {
			t.Errorf("incomplete layer %s visible after the kill", e.Name())
		}
	}
	if ims, _ := os.ReadDir(filepath.Join(storeDir, "images")); len(ims) != 0 {
		t.Errorf("an image record exists after the kill")
	}
	out, err := exec.Command(hullBin, args...).Output()
	if err != nil {
		t.Fatalf("pull after the kill: %v\n%s", err, out)
	}
	// It carries on from what the killed pull received.
	resumed := false
	sc = bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var e pull.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind == pull.Resumed && e.Digest == bd.String() && e.Current > 0 {
			resumed = true
			t.Logf("second pull resumed at byte %d of %d", e.Current, e.Total)
		}
	}
	if !resumed {
		t.Errorf("the second pull started the big layer over:\n%s", out)
	}
	out, err = exec.Command(hullBin, "image", "--store", storeDir, "prune").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "removed 0 layers, 0 blobs, ") || strings.Contains(string(out), " 0 leftovers") {
		t.Errorf("prune after the kill: %v %s", err, out)
	}
	if tmp, _ := os.ReadDir(filepath.Join(storeDir, "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ not empty after prune")
	}
}

func TestFamiliarName(t *testing.T) {
	for in, want := range map[string]string{
		"index.docker.io/library/busybox:latest": "busybox:latest",
		"index.docker.io/grafana/grafana:11":     "grafana/grafana:11",
		"ghcr.io/org/app:v1":                     "ghcr.io/org/app:v1",
	} {
		if got := familiarName(in); got != want {
			t.Errorf("familiarName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestImageRootless pulls and unpacks as an unprivileged user (uid 65534):
// the default store moves to $XDG_DATA_HOME/hull, whiteouts and opaque
// directories still work, and the bundle's config.json is the rootless one.
func TestImageRootless(t *testing.T) {
	testvm.Require(t, testvm.Root) // to become uid 65534
	reg := registrytest.Start(t)
	reg.LayeredImage(t, "rootless/app:v1", registrytest.Gzip, true, v1.Config{Cmd: []string{"/bin/sh"}})
	ref := reg.Addr + "/rootless/app:v1"
	sandbox := t.TempDir()
	for _, d := range []string{filepath.Dir(sandbox), sandbox} {
		os.Chmod(d, 0o755)
	}
	bin := testvm.CopyHull(t, sandbox)
	home := filepath.Join(sandbox, "home")
	os.Mkdir(home, 0o755)
	os.Chown(home, 65534, 65534)
	hull := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"image", "--registries", "/nonexistent.json"}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "XDG_DATA_HOME=" + filepath.Join(home, "data")}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("hull image %s as uid 65534: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	hull("pull", "-q", ref)
	if ents, _ := os.ReadDir(filepath.Join(home, "data/hull/layers")); len(ents) != 3 {
		t.Errorf("%d layers in the user's store, want 3", len(ents))
	}
	bundleDir := filepath.Join(home, "bundle")
	hull("unpack", ref, bundleDir)
	var spec specs.Spec
	b, err := os.ReadFile(filepath.Join(bundleDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	userns := false
	for _, ns := range spec.Linux.Namespaces {
		userns = userns || ns.Type == specs.UserNamespace
	}
	if !userns || len(spec.Linux.UIDMappings) == 0 {
		t.Errorf("config.json of a rootless unpack has no user namespace: %+v", spec.Linux.Namespaces)
	}
	for name, want := range map[string]string{"etc/motd": "back again\n", "usr/share/doc/c": "c"} {
		if got, err := os.ReadFile(filepath.Join(bundleDir, "rootfs", name)); string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, gone := range []string{"usr/share/doc/a", "opt/old"} {
		if _, err := os.Lstat(filepath.Join(bundleDir, "rootfs", gone)); !os.IsNotExist(err) {
			t.Errorf("%s survived its whiteout: %v", gone, err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(bundleDir, "rootfs/var/www/index.html"), &st); err != nil || st.Uid != 65534 {
		t.Errorf("rootfs file owner %d, %v; want the user, 65534", st.Uid, err)
	}
	hull("rm", ref)
	if out := hull("prune"); !strings.Contains(out, "removed 3 layers") {
		t.Errorf("prune as the user: %s", out)
	}
}

// TestProgressDraw drives the terminal view with events: one line per
// layer, redrawn in place (cursor up, clear line), and rate and time left
// counted from the layer's first byte, not from when it was queued.
func TestProgressDraw(t *testing.T) {
	var out bytes.Buffer
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	p := newProgressPrinter(&out)
	p.tty, p.now = true, func() time.Time { return now }
	a, b := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	send := func(at time.Duration, kind pull.EventKind, digest string, current int64) string {
		t.Helper()
		now = t0.Add(at)
		out.Reset()
		p.event(pull.Event{Kind: kind, Digest: digest, Current: current, Total: 100 << 20, Time: now})
		return out.String()
	}
	const clear = "\x1b[2K"
	if got, want := send(0, pull.Exists, b, 0), clear+"bbbbbbbbbbbb: already exists\n"; got != want {
		t.Errorf("first draw = %q, want %q", got, want)
	}
	send(0, pull.Waiting, a, 0)
	// Queued for 10 s, then 50 MiB in the next 5 s: 10 MiB/s, 5 s left
	// (counting from the queueing would say 3.3 MiB/s and 10 s).
	send(10*time.Second, pull.Downloading, a, 0)
	got := send(15*time.Second, pull.Downloading, a, 50<<20)
	want := "\x1b[2A" + clear + "bbbbbbbbbbbb: already exists\n" +
		clear + "aaaaaaaaaaaa: [===============>              ] 50.0 MiB/100.0 MiB  10.0 MiB/s  5s left\n"
	if got != want {
		t.Errorf("draw at 50%%:\n got %q\nwant %q", got, want)
	}
	// Within 100 ms of the last draw, without a change of state: no redraw.
	if got := send(15*time.Second+50*time.Millisecond, pull.Downloading, a, 51<<20); got != "" {
		t.Errorf("redrawn within 100 ms: %q", got)
	}
	got = send(16*time.Second, pull.Resumed, a, 60<<20)
	if !strings.Contains(got, "60.0 MiB/100.0 MiB  10.0 MiB/s  4s left  (resuming)\n") {
		t.Errorf("draw after a resume: %q", got)
	}
	got = send(20*time.Second, pull.Unpacked, a, 100<<20)
	if !strings.HasSuffix(got, clear+"aaaaaaaaaaaa: pull complete 100.0 MiB\n") {
		t.Errorf("draw when done: %q", got)
	}
}

// TestProgressResumedRate: a download that resumes an interrupted pull's
// bytes counts its rate from what it fetched itself.
func TestProgressResumedRate(t *testing.T) {
	var out bytes.Buffer
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	p := newProgressPrinter(&out)
	p.tty, p.now = true, func() time.Time { return now }
	d := "sha256:" + strings.Repeat("c", 64)
	p.event(pull.Event{Kind: pull.Resumed, Digest: d, Current: 80 << 20, Total: 100 << 20, Time: now})
	now = t0.Add(2 * time.Second)
	out.Reset()
	p.event(pull.Event{Kind: pull.Downloading, Digest: d, Current: 90 << 20, Total: 100 << 20, Time: now})
	if want := "5.0 MiB/s  2s left\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("draw = %q, want it to end %q", out.String(), want)
	}
}

// TestImagePullRegistries pulls through "hull image pull --registries":
// plainHTTP for a registry go-containerregistry would otherwise reach by
// HTTPS, an unknown field refused with the file named, and a TLS mirror
// trusted through its caFile serving the image while the origin is down.
func TestImagePullRegistries(t *testing.T) {
	testvm.Require(t, testvm.Root)
	// Not 127.0.0.1, which go-containerregistry reaches over plain HTTP
	// unasked.
	origin := registrytest.Start(t, registrytest.WithHost("127.0.0.2"))
	mirror := registrytest.Start(t, registrytest.WithTLS())
	for _, r := range []*registrytest.Registry{origin, mirror} {
		r.LayeredImage(t, "reg/app:v1", registrytest.Gzip, true, v1.Config{Cmd: []string{"/bin/sh"}})
	}
	ref := origin.Addr + "/reg/app:v1"
	dir := t.TempDir()
	config := filepath.Join(dir, "registries.json")
	pullWith := func(wantOK bool, cfg string) string {
		t.Helper()
		if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		storeDir, err := os.MkdirTemp(dir, "store")
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"image", "--store", storeDir, "--registries", config, "pull", "-q", ref}
		out, err := exec.Command(testvm.Hull(t), args...).CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("hull %s with %s: %v\n%s", strings.Join(args, " "), cfg, err, out)
		}
		return string(out)
	}

	if out := pullWith(false, `{}`); !strings.Contains(out, "HTTPS") {
		t.Errorf("pull over HTTPS from a plain HTTP registry: %s", out)
	}
	pullWith(true, `{"registries": {"`+origin.Addr+`": {"plainHTTP": true}}}`)
	if out := pullWith(false, `{"registries": {"`+origin.Addr+`": {"plainHttps": true}}}`); !strings.Contains(out, `unknown field "plainHttps"`) || !strings.Contains(out, config) {
		t.Errorf("a misspelt setting: %s", out)
	}

	origin.Stop()
	mirrored := `{"registries": {"` + origin.Addr + `": {"plainHTTP": true, "mirrors": ["` + mirror.Addr + `"]}`
	if out := pullWith(false, mirrored+`}}`); !strings.Contains(out, "certificate") {
		t.Errorf("pull from a TLS mirror without its CA: %s", out)
	}
	pullWith(true, mirrored+`, "`+mirror.Addr+`": {"caFile": "`+mirror.CAFile+`"}}}`)
}
