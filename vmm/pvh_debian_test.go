package vmm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullrt/hull/integration/testvm"
	"github.com/hullrt/hull/vmm/boot"
)

// envVmlinux names the uncompressed Debian kernel TestBootDebianPVH
// boots: the vmlinux inside the bzImage TestBootDebian boots, which
// TestDebianInTestVM extracts on the host.
const envVmlinux = "HULL_VMM_VMLINUX"

// extractVmlinux writes the ELF vmlinux compressed inside bzImage to
// dir/vmlinux, as the kernel's scripts/extract-vmlinux does, but by the
// setup header's payload_offset and payload_length (boot protocol 2.08)
// rather than by searching for a magic number. Debian compresses with xz.
func extractVmlinux(ctx context.Context, bzImage, dir string) (string, error) {
	b, err := os.ReadFile(bzImage)
	if err != nil {
		return "", err
	}
	img, err := boot.ParseBzImage(b)
	if err != nil {
		return "", err
	}
	h := img.Header
	end := uint64(h.PayloadOffset) + uint64(h.PayloadLength)
	if h.PayloadLength == 0 || end > uint64(len(img.Kernel)) {
		return "", fmt.Errorf("%s: payload [%#x, +%#x) is not inside the protected-mode part (%#x bytes)", bzImage, h.PayloadOffset, h.PayloadLength, len(img.Kernel))
	}
	if img.Compression != "xz" {
		return "", fmt.Errorf("%s: payload compressed with %s; this test unpacks xz (Debian's CONFIG_KERNEL_XZ)", bzImage, img.Compression)
	}
	// The payload ends with the uncompressed size, four bytes xz would
	// call trailing garbage; --single-stream stops before them.
	cmd := exec.CommandContext(ctx, "xz", "--decompress", "--stdout", "--single-stream")
	cmd.Stdin = bytes.NewReader(img.Kernel[h.PayloadOffset:end])
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("xz -d the payload of %s: %v: %s", bzImage, err, stderr.String())
	}
	path := filepath.Join(dir, "vmlinux")
	return path, os.WriteFile(path, out.Bytes(), 0o644)
}

// TestBootDebianPVH boots Debian's own kernel with hull vm run — its vmlinux, built with
// CONFIG_PVH — through the PVH entry: the 32-bit entry point from the
// XEN_ELFNOTE_PHYS32_ENTRY note, with an hvm_start_info instead of a zero
// page. The kernel must find both vCPUs, its memory, the initramfs and
// the command line there, and power off.
func TestBootDebianPVH(t *testing.T) {
	_, initrd := bootEnv(t)
	vmlinux := os.Getenv(envVmlinux)
	if vmlinux == "" {
		t.Skipf("%s is unset: TestDebianInTestVM extracts the vmlinux and runs this test in the test VM", envVmlinux)
	}
	b, err := os.ReadFile(vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	k, err := boot.ParseELF(b)
	if err != nil {
		t.Fatal(err)
	}
	if k.PVHEntry == 0 {
		t.Fatal("Debian's vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note: the boot below would not be a PVH boot")
	}
	t.Logf("PVH entry %#x, 64-bit entry %#x", k.PVHEntry, k.Entry)
	// Through the command line, end to end: hull vm run (hull-vmm) with
	// 2 vCPUs, the guest's console on its stdout, exit status 0 when the
	// guest powers off. (One nested Debian boot for both: each costs
	// the test VM half a minute.)
	hull := testvm.Hull(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hull, "vm", "run", "--kernel", vmlinux, "--initrd", initrd,
		"--cpus", "2", "--memory", "256M", "--append", "console=ttyS0 panic=-1 loglevel=4 testguest.pvh")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hull vm run: %v\nstderr: %s\nconsole:\n%s", err, stderr.String(), stdout.String())
	}
	out := stdout.String()
	for _, want := range []string{"testguest: started", "testguest: cpus=2", "testguest: memtotal_kb=", "testguest: done"} {
		if !strings.Contains(out, want) {
			t.Errorf("hull vm run's output lacks %q:\n%s", want, out)
		}
	}
}
