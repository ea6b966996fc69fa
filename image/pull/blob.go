package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/hullrt/hull/image/store"
)

// blobs fetches blobs of one repository over an authenticated transport.
type blobs struct {
	client  *http.Client
	url     string // ".../v2/REPO/blobs/"
	retries int
	backoff time.Duration
}

// blobReader streams one blob. It survives dropped connections: a read
// error or a body that ends early closes the response and the next Read
// asks for the rest with "Range: bytes=N-", so the consumer (the gzip
// decoder, the unpacker) sees one unbroken stream. It hashes what it
// returns; verify checks digest and size once the consumer is done.
type blobReader struct {
	ctx    context.Context
	b      *blobs
	digest string
	size   int64

	off   int64
	body  io.ReadCloser
	fails int // consecutive failures without progress
	h     hash.Hash

	onRead   func(off int64)
	onResume func(off int64, err error)
	// sink, when set, receives every byte from the network: the partial
	// download a later pull can resume from. Best effort: it is dropped
	// at its first write error.
	sink io.Writer
}

func (b *blobs) open(ctx context.Context, digest string, size int64) *blobReader {
	return &blobReader{ctx: ctx, b: b, digest: digest, size: size, h: sha256.New()}
}

// temporary reports whether retrying might help: network failures and
// early ends do, registry errors do when the registry says so (429, 5xx).
func temporary(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func (r *blobReader) connect() error {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.b.url+r.digest, nil)
	if err != nil {
		return err
	}
	if r.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
	}
	resp, err := r.b.client.Do(req)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && r.off > 0:
	case resp.StatusCode == http.StatusOK:
		if r.off > 0 { // the server ignored Range: skip what we have
			if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
				resp.Body.Close()
				return err
			}
		}
	default:
		defer resp.Body.Close()
		return transport.CheckError(resp, http.StatusOK, http.StatusPartialContent)
	}
	r.body = resp.Body
	return nil
}

func (r *blobReader) Read(p []byte) (int, error) {
	for {
		if r.off >= r.size {
			r.close()
			return 0, io.EOF
		}
		var err error
		n := 0
		if r.body == nil {
			err = r.connect()
		}
		if err == nil {
			if rest := r.size - r.off; int64(len(p)) > rest {
				p = p[:rest]
			}
			n, err = r.body.Read(p)
			r.off += int64(n)
			r.h.Write(p[:n])
			if r.sink != nil && n > 0 {
				if _, werr := r.sink.Write(p[:n]); werr != nil {
					r.sink = nil
				}
			}
			if n > 0 {
				r.fails = 0
				if r.onRead != nil {
					r.onRead(r.off)
				}
			}
			if err == nil || (err == io.EOF && r.off == r.size) {
				return n, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			r.close()
		}
		if r.ctx.Err() != nil {
			return n, r.ctx.Err()
		}
		if !temporary(err) || r.fails >= r.b.retries {
			return n, fmt.Errorf("fetching blob %s at byte %d of %d: %w", r.digest, r.off, r.size, err)
		}
		r.fails++
		if r.onResume != nil {
			r.onResume(r.off, err)
		}
		select {
		case <-time.After(r.b.backoff << (r.fails - 1)):
		case <-r.ctx.Done():
			return n, r.ctx.Err()
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *blobReader) close() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// verify checks, after the consumer read to the end, that the blob had
// the size and digest its descriptor promised.
func (r *blobReader) verify() error {
	r.close()
	if r.off != r.size {
		return fmt.Errorf("blob %s: read %d bytes, descriptor says %d", r.digest, r.off, r.size)
	}
	if got := "sha256:" + hex.EncodeToString(r.h.Sum(nil)); got != r.digest {
		return fmt.Errorf("blob %s: %w: content is %s", r.digest, store.ErrDigestMismatch, got)
	}
	return nil
}

// fetch reads a small blob (a config) whole and verifies it.
func (b *blobs) fetch(ctx context.Context, digest string, size int64) ([]byte, error) {
	const maxConfig = 64 << 20
	if size > maxConfig {
		return nil, fmt.Errorf("blob %s: %d bytes is too large for a config", digest, size)
	}
	r := b.open(ctx, digest, size)
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return data, r.verify()
}
