package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hullrt/hull/image/layer"
)

// A layer that plants a symlink to the host's /etc and then writes through
// it is stopped at the second entry.
func ExampleApply() {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "etc", Linkname: "/etc"})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: 5})
	tw.Write([]byte("evil\n"))
	tw.Close()

	dir, _ := os.MkdirTemp("", "layer")
	defer os.RemoveAll(dir)
	_, err := layer.Apply(context.Background(), dir, &b, layer.WithoutOwnership())
	fmt.Println(err)
	fmt.Println(errors.Is(err, layer.ErrUnsafe))
	// Output:
	// layer entry "etc/passwd": unsafe path: path component "etc" is a symlink
	// true
}

// Merge flattens overlay-format layer directories into one tree, applying
// whiteouts: the copy fallback where overlayfs is unavailable.
func ExampleMerge() {
	lower, upper, dst := mk(), mk(), mk()
	defer os.RemoveAll(lower)
	defer os.RemoveAll(upper)
	defer os.RemoveAll(dst)
	apply := func(dir string, entries ...*tar.Header) {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range entries {
			tw.WriteHeader(h)
		}
		tw.Close()
		if _, err := layer.Apply(context.Background(), dir, &b, layer.WithMode(layer.Flatten), layer.WithoutOwnership()); err != nil {
			fmt.Println(err)
		}
	}
	apply(lower, &tar.Header{Typeflag: tar.TypeReg, Name: "a", Mode: 0o644}, &tar.Header{Typeflag: tar.TypeReg, Name: "b", Mode: 0o644})
	apply(upper, &tar.Header{Typeflag: tar.TypeReg, Name: "c", Mode: 0o644})
	if err := layer.Merge(context.Background(), dst, []string{lower, upper}, layer.WithoutOwnership()); err != nil {
		fmt.Println(err)
	}
	ents, _ := os.ReadDir(dst)
	for _, e := range ents {
		fmt.Println(e.Name())
	}
	// Output:
	// a
	// b
	// c
}

func mk() string { d, _ := os.MkdirTemp("", "layer"); return d }
