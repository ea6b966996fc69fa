package rootfs_test

import (
	"fmt"

	"github.com/hullrt/hull/image/rootfs"
)

// The root filesystem of a container from a two-layer image: the mount is
// data, performed by the runtime in the container's mount namespace.
func ExampleOverlay() {
	m, err := rootfs.Overlay(
		[]string{"/var/lib/hull/layers/aa/diff", "/var/lib/hull/layers/bb/diff"},
		"/run/hull/c1/upper", "/run/hull/c1/work")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m)
	// Output:
	// mount -t overlay overlay -o lowerdir=/var/lib/hull/layers/bb/diff:/var/lib/hull/layers/aa/diff,upperdir=/run/hull/c1/upper,workdir=/run/hull/c1/work TARGET
}
