package testvm

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel is an unpacked Debian linux-image package: the kernel to boot and
// the modules built for it.
type Kernel struct {
	Dir     string // where the package was unpacked with dpkg -x
	Release string // uname -r of the kernel, e.g. 6.1.0-56-amd64
}

// Image is the path of the bzImage.
func (k *Kernel) Image() string { return filepath.Join(k.Dir, "boot", "vmlinuz-"+k.Release) }

// ModuleDir is the directory holding the kernel's modules.
func (k *Kernel) ModuleDir() string { return filepath.Join(k.Dir, "lib", "modules", k.Release) }

// DefaultCacheDir is where downloaded kernel packages are kept, outside any
// clone of the repository; $HULL_TESTVM_CACHE overrides it.
func DefaultCacheDir() string {
	if d := os.Getenv("HULL_TESTVM_CACHE"); d != "" {
		return d
	}
	return "/var/cache/hull-testvm"
}

// FindKernel returns the Debian kernel unpacked in cacheDir, fetching and
// unpacking the current linux-image-amd64 dependency with apt-get download
// and dpkg -x when the cache holds none. Concurrent callers serialise on a
// lock file in cacheDir.
func FindKernel(ctx context.Context, cacheDir string) (*Kernel, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(cacheDir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", cacheDir, err)
	}
	if k, err := cachedKernel(cacheDir); err == nil {
		return k, nil
	}
	pkg, err := kernelPackage(ctx)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cacheDir, "download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := run(ctx, tmp, "apt-get", "download", pkg); err != nil {
		return nil, fmt.Errorf("fetch the test VM's kernel (is apt-get update done?): %w", err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s left %d packages", pkg, len(debs))
	}
	unpacked := filepath.Join(tmp, "root")
	if err := run(ctx, tmp, "dpkg", "-x", debs[0], unpacked); err != nil {
		return nil, err
	}
	if err := os.Rename(unpacked, filepath.Join(cacheDir, pkg)); err != nil {
		return nil, err
	}
	return cachedKernel(cacheDir)
}

// kernelPackage names the linux-image package that linux-image-amd64
// depends on in the configured Debian release.
func kernelPackage(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends linux-image-amd64: %w", err)
	}
	m := regexp.MustCompile(`Depends: (linux-image-[0-9][^\s]*-amd64)\b`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("apt-cache depends linux-image-amd64 names no kernel package (run apt-get update):\n%s", out)
	}
	return string(m[1]), nil
}

func cachedKernel(cacheDir string) (*Kernel, error) {
	images, _ := filepath.Glob(filepath.Join(cacheDir, "linux-image-*", "boot", "vmlinuz-*"))
	if len(images) == 0 {
		return nil, os.ErrNotExist
	}
	sort.Strings(images)
	img := images[len(images)-1]
	dir := filepath.Dir(filepath.Dir(img))
	return &Kernel{Dir: dir, Release: strings.TrimPrefix(filepath.Base(img), "vmlinuz-")}, nil
}

func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// moduleIndex maps module names, with '-' spelled '_' as the kernel does,
// to the .ko files below a kernel's module directory.
type moduleIndex map[string]string

func indexModules(dir string) (moduleIndex, error) {
	idx := moduleIndex{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".ko") {
			idx[modName(strings.TrimSuffix(d.Name(), ".ko"))] = path
		}
		return nil
	})
	return idx, err
}

func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// resolve returns the files of the named modules and of everything they
// depend on, each after its dependencies: the order to load them in. A
// module's dependencies are the "depends=" entry of its .modinfo section,
// which is what depmod reads to write modules.dep.
func (idx moduleIndex) resolve(names []string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		name = modName(name)
		switch state[name] {
		case 1:
			return fmt.Errorf("module %s depends on itself", name)
		case 2:
			return nil
		}
		path, ok := idx[name]
		if !ok {
			return fmt.Errorf("module %s: not in the kernel package (built in, or misspelt?)", name)
		}
		state[name] = 1
		deps, err := moduleDepends(path)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		state[name] = 2
		order = append(order, path)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, errors.New(path + ": .modinfo has no depends= entry")
}
