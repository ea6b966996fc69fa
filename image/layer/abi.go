package layer

import "strings"

// OCI image-spec layer.md: whiteout file names in a layer tar stream.
const (
	whiteoutPrefix = ".wh."         // ".wh.NAME" deletes NAME from lower layers
	whiteoutMeta   = ".wh..wh."     // reserved prefix for whiteout metadata
	whiteoutOpaque = ".wh..wh..opq" // hides every lower entry of its directory
)

// overlayfs's own spelling of the same (Documentation/filesystems/overlayfs.rst).
const (
	// overlayOpaqueXattr marks a directory in an upper or lower layer as
	// opaque: the directories below it are not merged in.
	overlayOpaqueXattr = "trusted.overlay.opaque"
	// userOpaqueXattr is the same for an overlay mounted with "userxattr"
	// (unprivileged, in a user namespace, Linux 5.11): an unprivileged
	// user cannot write trusted.* xattrs.
	userOpaqueXattr = "user.overlay.opaque"
	// A whiteout is a character device with device number 0/0
	// (WHITEOUT_DEV in fs/overlayfs/overlayfs.h). Since Linux 5.8 anyone
	// may create one: it needs no CAP_MKNOD.
	overlayWhiteoutDev = 0
)

// reservedXattr reports whether attr belongs to overlayfs, in either
// spelling. A layer that sets these itself (redirect, metacopy, origin,
// opaque) could change what the merged view shows, so such entries are
// rejected.
func reservedXattr(attr string) bool {
	return strings.HasPrefix(attr, "trusted.overlay.") || strings.HasPrefix(attr, "user.overlay.")
}

// paxXattrPrefix is how tar writers (GNU tar, Docker, umoci) store extended
// attributes: PAX records "SCHILY.xattr.NAME".
const paxXattrPrefix = "SCHILY.xattr."
