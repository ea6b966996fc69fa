package hull

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hullrt/hull/image/store"
)

// RemoveImage removes ref from the image store, as "hull image rm" does: a
// name, and with an image's last name (or its digest) the image itself. An
// image that containers were made from stays while they exist, since they
// run on its layers: RemoveImage refuses, naming them, unless force, when
// it removes those containers first (podman's rmi -f). Removing one name of
// several never touches containers.
func (e *Engine) RemoveImage(ctx context.Context, ref string, force bool) (store.Image, error) {
	im, err := e.images.Lookup(ref)
	if err != nil {
		return im, err
	}
	norm, nerr := store.Normalize(ref)
	named := slices.Contains(im.Names, ref) || nerr == nil && slices.Contains(im.Names, norm)
	if !named || len(im.Names) <= 1 {
		list, err := e.List(ctx)
		if err != nil {
			return im, err
		}
		var users []*Container
		for _, c := range list {
			if c.ImageDigest == im.Digest {
				users = append(users, c)
			}
		}
		if len(users) > 0 && !force {
			names := make([]string, len(users))
			for i, c := range users {
				names[i] = fmt.Sprintf("%s (%.12s, %s)", c.Name, c.ID, c.State.Status)
			}
			return im, fmt.Errorf("image %s is used by container %s: remove the containers first, or the image with force (which removes them)", ref, strings.Join(names, ", "))
		}
		for _, c := range users {
			if err := e.Remove(ctx, c.ID, true); err != nil {
				return im, fmt.Errorf("removing container %s of image %s: %w", c.Name, ref, err)
			}
		}
	}
	return e.images.Remove(ctx, ref)
}
