// Package rootfs builds container root filesystems from the unpacked layer
// directories of an image.
//
// # Overlay
//
// overlayfs (Documentation/filesystems/overlayfs.rst) stacks read-only
// "lower" directories under one writable "upper" directory:
//
//	mount -t overlay overlay -o lowerdir=L3:L2:L1,upperdir=U,workdir=W /merged
//
// The leftmost lower is the top layer. Reads fall through to the highest
// layer that has the name; a 0/0 character device hides a name of the
// layers below it, an opaque directory (trusted.overlay.opaque=y) hides
// their whole directory; writes copy the file up into U first. W is
// scratch space on the same filesystem as U.
//
// As containerd's snapshotters do, [Overlay] returns the mount as data
// ([Mount]) and the caller performs it, usually inside the container's
// mount namespace; [Mount.Mount] is the way to do so.
//
// # Rootless
//
// Layers unpacked with layer.Rootless mark opaque directories with
// user.overlay.opaque; pass the "userxattr" option to [Overlay] and mount
// inside a user namespace (Linux 5.11), as rootless podman does.
//
// # The page-size limit
//
// mount(2) passes options in one page: with store paths of ~90 bytes, an
// image of more than ~40 layers does not fit. [Mount.Mount] then uses the
// new mount API instead (fsopen(2), one fsconfig(2) "lowerdir+" per layer,
// fsmount(2), move_mount(2); Linux 6.8 and later), and on older kernels
// short relative names: a temporary directory of symlinks "0", "1", ... to
// the layers, made the working directory of the mounting thread only
// (unshare(CLONE_FS) on a locked OS thread), so that the options read
// "lowerdir=2:1:0". overlayfs resolves the symlinks once, at mount time.
//
// # Copy fallback
//
// Where overlayfs is not available (some nested or unprivileged setups),
// [Copy] merges the layers into one directory with the layer package's
// secure unpacker, applying whiteouts as deletions.
package rootfs
