package bundle_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hullrt/hull/image/bundle"
)

func ExampleResolveUser() {
	rootfs, _ := os.MkdirTemp("", "rootfs")
	defer os.RemoveAll(rootfs)
	os.Mkdir(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("www:x:33:33::/var/www:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("www:x:33:\nstaff:x:50:www\n"), 0o644)
	u, err := bundle.ResolveUser(rootfs, "www")
	fmt.Printf("%d:%d %v %v\n", u.UID, u.GID, u.AdditionalGids, err)
	// Output: 33:33 [50] <nil>
}
