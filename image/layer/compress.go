package layer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is how a layer blob is compressed.
type Compression string

const (
	Uncompressed Compression = "none"
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
)

// Magic numbers: RFC 1952 section 2.3.1 (gzip), RFC 8878 section 3.1.1 (zstd).
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress returns the uncompressed stream of a layer blob, detecting the
// compression from its first bytes rather than trusting the media type
// (registries and old tools mislabel layers). Closing the result releases
// the decoder; it does not close r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, "", fmt.Errorf("reading layer header: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("gzip: %w", err)
		}
		return zr, Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, "", fmt.Errorf("zstd: %w", err)
		}
		return zstdCloser{zr}, Zstd, nil
	}
	return io.NopCloser(br), Uncompressed, nil
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

// ErrDigestMismatch is wrapped when content does not hash to the digest
// that named it.
var ErrDigestMismatch = errors.New("digest mismatch")

// Unpack decompresses a layer blob from r while applying it to dir, and
// checks that the uncompressed stream hashes to diffID ("sha256:..."), the
// digest the image config lists for this layer. It reads r to its end, so
// that a caller hashing the compressed stream sees all of it.
//
// Nothing is buffered on disk: the tar stream is applied as it arrives. On
// a digest mismatch the entries are already written, so dir must be a
// fresh directory the caller discards on error.
func Unpack(ctx context.Context, dir string, r io.Reader, diffID string, opts ...Option) (Stats, error) {
	algo, want, ok := cutDigest(diffID)
	if !ok || algo != "sha256" {
		return Stats{}, fmt.Errorf("layer diffID %q: want sha256:<64 hex digits>", diffID)
	}
	dr, _, err := Decompress(r)
	if err != nil {
		return Stats{}, err
	}
	defer dr.Close()
	h := sha256.New()
	tee := io.TeeReader(dr, h)
	st, err := Apply(ctx, dir, tee, opts...)
	if err != nil {
		return st, err
	}
	// The tar end-of-archive blocks and any padding are part of the digest.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return st, fmt.Errorf("reading layer: %w", err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return st, fmt.Errorf("reading layer: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return st, fmt.Errorf("layer diffID: %w: content is sha256:%s, want %s", ErrDigestMismatch, got, diffID)
	}
	return st, nil
}

func cutDigest(d string) (algo, hexsum string, ok bool) {
	algo, hexsum, ok = strings.Cut(d, ":")
	if _, err := hex.DecodeString(hexsum); err != nil || len(hexsum) != 64 {
		ok = false
	}
	return algo, hexsum, ok
}
