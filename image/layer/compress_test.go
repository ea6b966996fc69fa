package layer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestUnpackCompressions(t *testing.T) {
	raw := mktar(t, dir("etc/"), file("etc/hostname", "hull\n"))
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
		return out.Bytes()
	}
	zs := func(b []byte) []byte {
		w, _ := zstd.NewWriter(nil)
		return w.EncodeAll(b, nil)
	}
	for _, tc := range []struct {
		name   string
		blob   []byte
		diffID string
		want   error
	}{
		{"none", raw, sha(raw), nil},
		{"gzip", gz(raw), sha(raw), nil},
		{"zstd", zs(raw), sha(raw), nil},
		{"wrong diffID", gz(raw), sha([]byte("other")), ErrDigestMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			_, err := Unpack(context.Background(), root, bytes.NewReader(tc.blob), tc.diffID, WithoutOwnership())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unpack = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			b, err := os.ReadFile(filepath.Join(root, "etc/hostname"))
			if string(b) != "hull\n" {
				t.Errorf("etc/hostname = %q, %v", b, err)
			}
		})
	}
}

func TestUnpackRejectsBadDiffID(t *testing.T) {
	for _, d := range []string{"", "sha256:abc", "md5:" + sha(nil)[7:], sha(nil)[7:]} {
		if _, err := Unpack(context.Background(), t.TempDir(), bytes.NewReader(nil), d); err == nil {
			t.Errorf("Unpack(diffID %q) = nil error, want a complaint about the diffID", d)
		}
	}
}
