package testvm

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/hullrt/hull/integration/testvm/protocol"
)

// buildInitramfs writes the initramfs: /init (guestinit), /bin/busybox,
// /dev/console, and the modules with their load order in /modules/order.
// It stays small (a few MB) because the kernel unpacks it with an emulated
// CPU; the test binaries travel on the payload disk instead.
func buildInitramfs(ctx context.Context, k *Kernel, modules []string, out string) error {
	initBin, err := guestInit(ctx)
	if err != nil {
		return err
	}
	busybox, err := staticBusybox()
	if err != nil {
		return err
	}
	idx, err := indexModules(k.ModuleDir())
	if err != nil {
		return fmt.Errorf("index modules of %s: %w", k.Release, err)
	}
	order, err := idx.resolve(modules)
	if err != nil {
		return err
	}
	a := newCPIO()
	a.CharDevice("dev/console", 0o600, 5, 1)
	a.Dir("proc", 0o755)
	a.Dir("sys", 0o755)
	a.Dir("newroot", 0o755)
	if err := a.File("init", initBin, 0o755); err != nil {
		return err
	}
	if err := a.File("bin/busybox", busybox, 0o755); err != nil {
		return err
	}
	var names []string
	for _, path := range order {
		name := filepath.Base(path)
		names = append(names, name)
		if err := a.File("modules/"+name, path, 0o644); err != nil {
			return err
		}
	}
	a.Bytes("modules/order", []byte(strings.Join(names, "\n")+"\n"), 0o644)
	a.Bytes("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644)
	a.Bytes("etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	a.Dir("root", 0o700)

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := a.WriteTo(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var guestInitOnce struct {
	sync.Mutex
	path string
}

// guestInit builds the guest's init, statically, once per process.
func guestInit(ctx context.Context) (string, error) {
	guestInitOnce.Lock()
	defer guestInitOnce.Unlock()
	if guestInitOnce.path != "" {
		return guestInitOnce.path, nil
	}
	dir, err := os.MkdirTemp("", "hull-guestinit-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "init")
	if err := goBuild(ctx, out, "github.com/hullrt/hull/integration/testvm/guestinit", false); err != nil {
		return "", err
	}
	guestInitOnce.path = out
	return out, nil
}

// goBuild runs go build from the module's root, for a static program as
// the Makefile builds them: with cgo, linked statically against glibc
// with Go's own resolver and user lookup; without, CGO_ENABLED=0.
func goBuild(ctx context.Context, out, pkg string, cgo bool) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	tags, ldflags, cgoEnv := "", "-s -w", "CGO_ENABLED=0"
	if cgo {
		tags, ldflags, cgoEnv = "netgo,osusergo", ldflags+" -linkmode external -extldflags -static", "CGO_ENABLED=1"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags="+tags, "-ldflags="+ldflags, "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), cgoEnv)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// ModuleRoot is the directory holding hull's go.mod, found upwards from
// the working directory (a package's directory, under go test).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/hullrt/hull\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the hull module: no go.mod above the working directory")
		}
		dir = parent
	}
}

func staticBusybox() (string, error) {
	const path = "/bin/busybox"
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked: apt-get install busybox-static", path)
		}
	}
	return path, nil
}

// buildPayload lays out the payload in dir and makes an ext4 image of it
// with mke2fs -d, which needs no mount and no root.
func buildPayload(ctx context.Context, cfg Config, dir, disk string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for rel, src := range cfg.Files {
		if err := copyFile(src, filepath.Join(dir, rel)); err != nil {
			return err
		}
	}
	for rel, src := range cfg.Dirs {
		// Merge src's contents into the directory, which other entries
		// may also fill (a package's directory and its testdata/).
		if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
			return err
		}
		if err := run(ctx, "", "cp", "-a", src+"/.", filepath.Join(dir, rel)); err != nil {
			return err
		}
	}
	sysroot := filepath.Join(dir, "sysroot")
	for _, tool := range cfg.HostTools {
		path, err := exec.LookPath(tool)
		if err != nil {
			return fmt.Errorf("host tool %s: %w", tool, err)
		}
		if err := copyFile(path, filepath.Join(sysroot, path)); err != nil {
			return err
		}
	}
	if err := addSharedLibraries(ctx, dir, sysroot); err != nil {
		return err
	}
	m := protocol.Manifest{}
	for _, j := range cfg.Jobs {
		m.Jobs = append(m.Jobs, protocol.Job{
			Name: j.Name, Path: j.Path, Args: j.Args, Dir: j.Dir, Env: j.Env,
			TimeoutSeconds: int(j.Timeout.Seconds()),
		})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, protocol.ManifestFile), b, 0o644); err != nil {
		return err
	}
	size, err := treeSize(dir)
	if err != nil {
		return err
	}
	// Room for the file system's own metadata and for what tests write;
	// the image file is sparse, so unused room costs no host disk.
	kib := size/1024*5/4 + 512<<10
	return run(ctx, "", "mke2fs", "-q", "-t", "ext4", "-L", "payload", "-E", "root_owner=0:0",
		"-d", dir, "-F", disk, fmt.Sprintf("%dk", kib))
}

var lddLine = regexp.MustCompile(`(?m)(/\S+) \(0x[0-9a-f]+\)$`)

// addSharedLibraries finds the dynamically linked programs below dir and
// copies the libraries they need, and the dynamic loader, into sysroot at
// the paths ldd reports.
func addSharedLibraries(ctx context.Context, dir, sysroot string) error {
	need := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !dynamicELF(path) {
			return err
		}
		out, err := exec.CommandContext(ctx, "ldd", path).Output()
		if err != nil {
			return fmt.Errorf("ldd %s: %w", path, err)
		}
		for _, m := range lddLine.FindAllStringSubmatch(string(out), -1) {
			need[m[1]] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	for lib := range need {
		if err := copyFile(lib, filepath.Join(sysroot, lib)); err != nil {
			return err
		}
	}
	return nil
}

func dynamicELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// copyFile copies src, following symlinks, to dst, keeping its mode.
func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	return run(context.Background(), "", "cp", "-L", "--preserve=mode", src, dst)
}

func treeSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && d.Type().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
