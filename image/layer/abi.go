package layer

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
	// overlayXattrPrefix is reserved for overlayfs; a layer that sets these
	// itself (redirect, metacopy, origin) could change what the merged view
	// shows, so such entries are rejected.
	overlayXattrPrefix = "trusted.overlay."
	// A whiteout is a character device with device number 0/0
	// (WHITEOUT_DEV in fs/overlayfs/overlayfs.h).
	overlayWhiteoutDev = 0
)

// paxXattrPrefix is how tar writers (GNU tar, Docker, umoci) store extended
// attributes: PAX records "SCHILY.xattr.NAME".
const paxXattrPrefix = "SCHILY.xattr."
