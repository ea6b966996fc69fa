package hull

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hullrt/hull/image/layer"
	"github.com/hullrt/hull/image/store"
)

// CommitOptions describe the image Commit makes.
type CommitOptions struct {
	Author, Message string
}

// Commit makes a new image of the container: its image's layers plus one
// more, the container's writes (its overlay upper directory, whiteouts
// turned back into ".wh." entries by layer.WriteTar), with the container's
// command, environment and working directory as its config. The image is
// stored under name. A running container is frozen meanwhile, so that the
// layer is one moment of it.
func (e *Engine) Commit(ctx context.Context, ref, name string, o CommitOptions) (store.Image, error) {
	c, err := e.Inspect(ctx, ref)
	if err != nil {
		return store.Image{}, err
	}
	norm, err := store.Normalize(name)
	if err != nil {
		return store.Image{}, err
	}
	if c.State.Status == ContainerRunning {
		if err := e.rt.Pause(ctx, c.ID); err != nil {
			return store.Image{}, fmt.Errorf("freezing %s: %w", c.Name, err)
		}
		defer e.rt.Resume(context.WithoutCancel(ctx), c.ID)
	}
	base, err := e.images.Lookup(c.ImageDigest)
	if err != nil {
		return store.Image{}, err
	}
	rawCfg, err := e.images.Blob(base.Config.Digest)
	if err != nil {
		return store.Image{}, err
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(rawCfg, &cfg); err != nil {
		return store.Image{}, fmt.Errorf("image config %s: %w", base.Config.Digest, err)
	}

	// The layer, uncompressed (its digest is its diffID), in a scratch
	// file: what the store unpacks next.
	tmp, err := os.CreateTemp(e.dataDir, "commit-*.tar")
	if err != nil {
		return store.Image{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if err := e.writeUpper(ctx, c, io.MultiWriter(tmp, h)); err != nil {
		return store.Image{}, fmt.Errorf("writing the layer of %s: %w", c.Name, err)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return store.Image{}, err
	}
	diffID := "sha256:" + hex.EncodeToString(h.Sum(nil))

	now := time.Now().UTC()
	var diffIDs []string
	for _, l := range base.Layers {
		diffIDs = append(diffIDs, l.DiffID)
	}
	diffIDs = append(diffIDs, diffID)
	chain := store.ChainIDs(diffIDs)
	top := store.Layer{
		Descriptor: store.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: diffID, Size: size},
		DiffID:     diffID, ChainID: chain[len(chain)-1],
	}

	release, err := e.images.Hold(ctx)
	if err != nil {
		return store.Image{}, err
	}
	defer release()
	_, err = e.images.CreateLayer(ctx, store.LayerInfo{
		ChainID: top.ChainID, DiffID: diffID, Parent: base.TopLayer(), Digest: diffID, Created: now,
	}, func(ctx context.Context, dir string) (int64, error) {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		st, err := layer.Unpack(ctx, dir, tmp, diffID)
		return st.Bytes, err
	})
	if err != nil {
		return store.Image{}, err
	}

	h1, err := v1.NewHash(diffID)
	if err != nil {
		return store.Image{}, err
	}
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, h1)
	cfg.Created = v1.Time{Time: now}
	if o.Author != "" {
		cfg.Author = o.Author
	}
	cfg.History = append(cfg.History, v1.History{Created: v1.Time{Time: now}, CreatedBy: "hull container commit " + c.Name, Author: o.Author, Comment: o.Message})
	if c.Config.Entrypoint != nil {
		cfg.Config.Entrypoint = c.Config.Entrypoint
		cfg.Config.Cmd = nil
	}
	if len(c.Config.Cmd) > 0 {
		cfg.Config.Cmd = c.Config.Cmd
	}
	cfg.Config.Env = mergeEnv(cfg.Config.Env, c.Config.Env)
	if c.Config.WorkingDir != "" {
		cfg.Config.WorkingDir = c.Config.WorkingDir
	}
	if c.Config.User != "" {
		cfg.Config.User = c.Config.User
	}
	cfgBlob, err := json.Marshal(cfg)
	if err != nil {
		return store.Image{}, err
	}
	cfgDesc := store.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: store.Digest(cfgBlob), Size: int64(len(cfgBlob))}
	if err := e.images.PutBlob(cfgDesc.Digest, cfgBlob); err != nil {
		return store.Image{}, err
	}
	layers := append(append([]store.Layer(nil), base.Layers...), top)
	manifest := struct {
		SchemaVersion int                `json:"schemaVersion"`
		MediaType     string             `json:"mediaType"`
		Config        store.Descriptor   `json:"config"`
		Layers        []store.Descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json", Config: cfgDesc}
	for _, l := range layers {
		manifest.Layers = append(manifest.Layers, l.Descriptor)
	}
	mBlob, err := json.Marshal(manifest)
	if err != nil {
		return store.Image{}, err
	}
	im := store.Image{
		Digest: store.Digest(mBlob), MediaType: manifest.MediaType, Platform: base.Platform,
		Config: cfgDesc, Layers: layers, Created: now,
	}
	if err := e.images.PutBlob(im.Digest, mBlob); err != nil {
		return store.Image{}, err
	}
	if err := e.images.PutImage(ctx, im, norm); err != nil {
		return store.Image{}, err
	}
	return im, nil
}

// writeUpper writes the container's upper directory as a layer tar. With
// a user namespace its files belong to the host's ids of the container's
// range: the layer gets the container's own (HostID+n is n), as an image
// built inside the container would.
func (e *Engine) writeUpper(ctx context.Context, c *Container, w io.Writer) error {
	upper := filepath.Join(c.Dir, "upper")
	if c.UserNS == nil {
		return layer.WriteTar(ctx, w, upper)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := layer.WriteTar(ctx, pw, upper)
		pw.CloseWithError(err)
		done <- err
	}()
	err := shiftTar(pr, w, *c.UserNS)
	pr.CloseWithError(err)
	if werr := <-done; err == nil {
		err = werr
	}
	return err
}

// shiftTar copies a tar stream, each owner in m's host range made the
// container's id.
func shiftTar(r io.Reader, w io.Writer, m UserNSMapping) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	shift := func(id int) int {
		if id >= int(m.HostID) && id < int(m.HostID)+int(m.Size) {
			return id - int(m.HostID)
		}
		return id
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		hdr.Uid, hdr.Gid = shift(hdr.Uid), shift(hdr.Gid)
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
