package layer_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/registrytest"
	"github.com/hullrt/hull/integration/testvm"
	"golang.org/x/sys/unix"
)

// TestWriteTarRoundTrip: a layer directory written back as a tar and
// applied again is the same directory, whiteouts, opaque markers,
// hardlinks, xattrs and set-ID bits included.
func TestWriteTarRoundTrip(t *testing.T) {
	testvm.Require(t, testvm.Root)
	for i, es := range registrytest.Layered(t) {
		tmp := t.TempDir()
		a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
		os.Mkdir(a, 0o755)
		os.Mkdir(b, 0o755)
		if _, err := layer.Apply(context.Background(), a, bytes.NewReader(registrytest.Tar(t, es...))); err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(layer.WriteTar(context.Background(), pw, a)) }()
		if _, err := layer.Apply(context.Background(), b, pr); err != nil {
			t.Fatalf("layer %d: applying WriteTar's output: %v", i, err)
		}
		pr.Close()
		if diff := registrytest.DiffTrees(registrytest.Tree(t, a), registrytest.Tree(t, b)); len(diff) > 0 {
			t.Errorf("layer %d changed in the round trip:\n%s", i, strings.Join(diff, "\n"))
		}
		if i == 1 { // Tree leaves overlayfs's xattrs out: check the opaque marker itself
			buf := make([]byte, 2)
			if n, err := unix.Lgetxattr(filepath.Join(b, "usr/share/doc"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
				t.Errorf("the opaque marker was lost in the round trip: %q, %v", buf[:n], err)
			}
		}
	}
}
