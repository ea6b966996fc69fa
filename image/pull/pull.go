package pull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/store"
	"golang.org/x/sync/errgroup"
)

// ErrUnauthorized is wrapped when the registry refuses our credentials.
var ErrUnauthorized = errors.New("registry refused the credentials")

// Pull fetches the image ref names ("busybox", "ghcr.io/org/app:v1",
// "registry:5000/app@sha256:...") into st and returns its record. Layers
// already in st are not downloaded again.
func Pull(ctx context.Context, st *store.Store, ref string, opts ...Option) (store.Image, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return store.Image{}, err
	}
	p := &puller{o: o, st: st, ref: ref}
	im, err := p.pull(ctx)
	if err != nil {
		return im, fmt.Errorf("pulling %s: %w", ref, err)
	}
	return im, nil
}

type puller struct {
	o   *options
	st  *store.Store
	ref string

	mu      sync.Mutex // serializes progress callbacks, guards created
	created []string   // chain IDs of the layers this pull stored
}

func (p *puller) emit(e Event) {
	if p.o.progress == nil {
		return
	}
	e.Ref, e.Time = p.ref, time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.o.progress(e)
}

// source is one place the image can come from: a mirror or the origin.
type source struct {
	ref       name.Reference
	transport http.RoundTripper
	auth      authn.Authenticator
}

func (p *puller) sources(ctx context.Context) ([]source, name.Reference, error) {
	ref, err := name.ParseReference(p.ref)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing reference: %w", err)
	}
	reg := p.o.config.registry(ref.Context().RegistryStr())
	hosts := append(append([]string{}, reg.Mirrors...), ref.Context().RegistryStr())
	var out []source
	for i, host := range hosts {
		settings := reg
		if i < len(reg.Mirrors) {
			settings = p.o.config.registry(host)
		}
		var nopts []name.Option
		if settings.PlainHTTP || settings.Insecure {
			nopts = append(nopts, name.Insecure)
		}
		r, err := name.ParseReference(host+"/"+ref.Context().RepositoryStr()+sep(ref)+ref.Identifier(), nopts...)
		if err != nil {
			return nil, nil, fmt.Errorf("registry %s: %w", host, err)
		}
		t, err := settings.transport(p.o.transport)
		if err != nil {
			return nil, nil, fmt.Errorf("registry %s: %w", host, err)
		}
		auth, err := authn.Resolve(ctx, p.o.keychain, r.Context())
		if err != nil {
			return nil, nil, fmt.Errorf("credentials for %s: %w", host, err)
		}
		out = append(out, source{ref: r, transport: t, auth: auth})
	}
	return out, ref, nil
}

func sep(r name.Reference) string {
	if _, ok := r.(name.Digest); ok {
		return "@"
	}
	return ":"
}

func (p *puller) pull(ctx context.Context) (store.Image, error) {
	srcs, ref, err := p.sources(ctx)
	if err != nil {
		return store.Image{}, err
	}
	var errs []error
	for _, src := range srcs {
		im, err := p.pullFrom(ctx, src, ref)
		if err == nil {
			return im, nil
		}
		// A mirror that fails, or serves corrupt content, is skipped; the
		// origin's error is final. A hostile layer is the same bytes
		// everywhere (its digest says so): no other source will help.
		errs = append(errs, fmt.Errorf("from %s: %w", src.ref.Context().RegistryStr(), err))
		if errors.Is(err, layer.ErrUnsafe) || ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return store.Image{}, errors.Unwrap(errs[0])
	}
	return store.Image{}, errors.Join(errs...)
}

func explain(host string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%w for %s (HTTP %d; check the user and password in the docker or containers auth file): %w",
			ErrUnauthorized, host, te.StatusCode, err)
	}
	return err
}

func (p *puller) pullFrom(ctx context.Context, src source, origin name.Reference) (store.Image, error) {
	host := src.ref.Context().RegistryStr()
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(src.transport),
		remote.WithAuth(src.auth),
		remote.WithPlatform(p.o.platform),
	}
	desc, err := remote.Get(src.ref, ropts...)
	if err != nil {
		return store.Image{}, explain(host, err)
	}
	im := store.Image{Platform: platformString(p.o.platform)}
	manifest := desc.Manifest
	blobsToStore := map[string][]byte{}
	if desc.MediaType.IsIndex() {
		child, err := choose(desc.Manifest, p.o.platform)
		if err != nil {
			return im, err
		}
		im.Index = desc.Digest.String()
		blobsToStore[im.Index] = desc.Manifest
		cd, err := remote.Get(src.ref.Context().Digest(child.Digest.String()), ropts...)
		if err != nil {
			return im, explain(host, err)
		}
		desc, manifest = cd, cd.Manifest
	}
	switch desc.MediaType {
	case types.DockerManifestSchema2, types.OCIManifestSchema1:
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return im, fmt.Errorf("manifest %s is Docker schema 1, deprecated since 2017: re-push the image with a current tool", desc.Digest)
	default:
		return im, fmt.Errorf("manifest %s: media type %q is not an image", desc.Digest, desc.MediaType)
	}
	if got := store.Digest(manifest); got != desc.Digest.String() {
		return im, fmt.Errorf("manifest: %w: content is %s, registry says %s", store.ErrDigestMismatch, got, desc.Digest)
	}
	im.Digest, im.MediaType = desc.Digest.String(), string(desc.MediaType)
	blobsToStore[im.Digest] = manifest
	p.emit(Event{Kind: Resolved, Digest: im.Digest})

	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return im, fmt.Errorf("manifest %s: %w", im.Digest, err)
	}
	rt, err := transport.NewWithContext(ctx, src.ref.Context().Registry, src.auth, src.transport, []string{src.ref.Context().Scope(transport.PullScope)})
	if err != nil {
		return im, explain(host, err)
	}
	bl := &blobs{
		client:  &http.Client{Transport: rt},
		url:     fmt.Sprintf("%s://%s/v2/%s/blobs/", src.ref.Context().Scheme(), host, src.ref.Context().RepositoryStr()),
		retries: p.o.retries,
		backoff: p.o.backoff,
	}
	cfgBytes, err := bl.fetch(ctx, m.Config.Digest.String(), m.Config.Size)
	if err != nil {
		return im, fmt.Errorf("config: %w", explain(host, err))
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgBytes))
	if err != nil {
		return im, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return im, fmt.Errorf("config %s lists %d diffIDs for %d layers", m.Config.Digest, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	im.Config = store.Descriptor{MediaType: string(m.Config.MediaType), Digest: m.Config.Digest.String(), Size: m.Config.Size}
	blobsToStore[im.Config.Digest] = cfgBytes

	diffIDs := make([]string, len(cfg.RootFS.DiffIDs))
	for i, d := range cfg.RootFS.DiffIDs {
		diffIDs[i] = d.String()
	}
	chains := store.ChainIDs(diffIDs)
	for i, l := range m.Layers {
		if !l.MediaType.IsLayer() {
			return im, fmt.Errorf("layer %d (%s): media type %q is not a layer", i, l.Digest, l.MediaType)
		}
		im.Layers = append(im.Layers, store.Layer{
			Descriptor: store.Descriptor{MediaType: string(l.MediaType), Digest: l.Digest.String(), Size: l.Size},
			DiffID:     diffIDs[i],
			ChainID:    chains[i],
		})
	}

	// From here on the store is written: hold off garbage collection.
	release, err := p.st.Hold(ctx)
	if err != nil {
		return im, err
	}
	defer func() { release() }()
	if err := p.layers(ctx, bl, im.Layers); err != nil {
		if ctx.Err() != nil {
			// Interrupted (Ctrl-C): the layers already stored and the
			// partial downloads stay, for the next pull to build on.
			return im, err
		}
		// Failed: a pull that fails stores nothing. Its verified layers
		// go, unless another pull is running (it may share them; Prune
		// collects them later), and so do the partial downloads of the
		// layers cancelled alongside.
		release()
		release = func() {}
		p.st.Discard(p.created)
		for _, l := range im.Layers {
			p.st.RemovePartial(l.Digest)
		}
		return im, err
	}
	for d, b := range blobsToStore {
		if err := p.st.PutBlob(d, b); err != nil {
			return im, err
		}
	}
	// The name the user gave: repo:tag, or repo@digest (of the index when
	// the digest named one), so that the same reference finds it again.
	names := []string{origin.Name()}
	if err := p.st.PutImage(ctx, im, names...); err != nil {
		return im, err
	}
	im.Names = names
	p.emit(Event{Kind: Done, Digest: im.Digest})
	return im, nil
}

// layers fetches and unpacks the missing layers, o.jobs at a time.
//
// A download slot covers fetching and unpacking one layer, not committing
// it: CreateLayer's syncfs(2) of a finished layer waits for the disk, and
// the next layer's download runs meanwhile. Slots go to layers roughly in
// order: the goroutines start in layer order, and a channel serves its
// waiting senders first come, first served.
func (p *puller) layers(ctx context.Context, bl *blobs, ls []store.Layer) error {
	g, ctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, p.o.jobs)
	for i, l := range ls {
		if p.st.HasLayer(l.ChainID) {
			p.emit(Event{Kind: Exists, Digest: l.Digest, Total: l.Size})
			continue
		}
		p.emit(Event{Kind: Waiting, Digest: l.Digest, Total: l.Size})
		parent := ""
		if i > 0 {
			parent = ls[i-1].ChainID
		}
		g.Go(func() error { return p.layer(ctx, bl, l, parent, slots) })
	}
	return g.Wait()
}

func (p *puller) layer(ctx context.Context, bl *blobs, l store.Layer, parent string, slots chan struct{}) error {
	info := store.LayerInfo{ChainID: l.ChainID, DiffID: l.DiffID, Parent: parent, Digest: l.Digest}
	created, err := p.st.CreateLayer(ctx, info, func(ctx context.Context, dir string) (int64, error) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		defer func() { <-slots }()
		n, resumed, err := p.fetchLayer(ctx, bl, l, dir, true)
		if resumed && errors.Is(err, layer.ErrDigestMismatch) {
			// The kept bytes were bad (a host crash can leave a partial
			// file with holes): start over, once, from nothing.
			if err := os.RemoveAll(dir); err != nil {
				return 0, err
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				return 0, err
			}
			n, _, err = p.fetchLayer(ctx, bl, l, dir, false)
		}
		return n, err
	})
	if err != nil {
		return err
	}
	if created {
		p.mu.Lock()
		p.created = append(p.created, l.ChainID)
		p.mu.Unlock()
		p.emit(Event{Kind: Unpacked, Digest: l.Digest, Current: l.Size, Total: l.Size})
	} else {
		p.emit(Event{Kind: Exists, Digest: l.Digest, Total: l.Size})
	}
	return nil
}

// fetchLayer downloads blob l and unpacks it into dir as it arrives. With
// resume, what an interrupted pull (Ctrl-C, a crash) kept in the store's
// partial file is replayed first and the network picks up after it;
// CreateLayer's lock makes this pull the partial file's only user. What
// the partial file keeps of this download is the keeper's choice.
func (p *puller) fetchLayer(ctx context.Context, bl *blobs, l store.Layer, dir string, resume bool) (n int64, resumed bool, err error) {
	const every = 256 << 10
	r := bl.open(ctx, l.Digest, l.Size)
	defer r.close()
	part, err := p.st.Partial(l.Digest)
	if err != nil {
		return 0, false, err
	}
	defer part.Close()
	var src io.Reader = r
	if have, err := part.Seek(0, io.SeekEnd); resume && err == nil && have > 0 && have < l.Size {
		if _, err := part.Seek(0, io.SeekStart); err != nil {
			return 0, false, err
		}
		r.off, resumed = have, true
		src = io.MultiReader(io.TeeReader(io.LimitReader(part, have), r.h), r)
		p.emit(Event{Kind: Resumed, Digest: l.Digest, Current: have, Total: l.Size, Err: "continuing an interrupted pull"})
	} else if err := part.Truncate(0); err != nil {
		return 0, false, err
	}
	r.sink = newKeeper(part, l.Size-r.off)
	last := int64(-every)
	r.onRead = func(off int64) {
		if off-last >= every || off == l.Size {
			last = off
			p.emit(Event{Kind: Downloading, Digest: l.Digest, Current: off, Total: l.Size})
		}
	}
	r.onResume = func(off int64, err error) {
		p.emit(Event{Kind: Resumed, Digest: l.Digest, Current: off, Total: l.Size, Err: err.Error()})
	}
	stats, err := layer.Unpack(ctx, dir, src, l.DiffID, p.o.unpack...)
	if err != nil && ctx.Err() == nil && !errors.Is(err, layer.ErrUnsafe) {
		// A corrupted blob usually breaks the decoder before its digest
		// can be checked: finish the download to name the real cause.
		if _, cerr := io.Copy(io.Discard, src); cerr == nil {
			if verr := r.verify(); verr != nil {
				err = fmt.Errorf("%w (unpacking failed: %v)", verr, err)
			}
		}
	}
	if err == nil {
		err = r.verify()
	}
	if err == nil || errors.Is(err, layer.ErrDigestMismatch) || errors.Is(err, layer.ErrUnsafe) {
		p.st.RemovePartial(l.Digest) // done, or not worth resuming
	}
	if err != nil {
		return 0, resumed, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return stats.Bytes, resumed, nil
}

// choose picks the manifest for platform from an index: exact os, arch
// and (when both name one) variant; an entry without a variant matches any.
func choose(index []byte, want v1.Platform) (v1.Descriptor, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(index))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("index: %w", err)
	}
	var have []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		have = append(have, platformString(*d.Platform))
		pl := d.Platform
		if pl.OS == want.OS && pl.Architecture == want.Architecture &&
			(pl.Variant == "" || want.Variant == "" || pl.Variant == want.Variant) {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("no image for platform %s in the index (it has %s)", platformString(want), strings.Join(have, ", "))
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
