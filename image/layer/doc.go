// Package layer applies image layers — tar streams, possibly gzip- or
// zstd-compressed — to a directory on the host, safely.
//
// # The threat
//
// A layer is data from the network. Its tar entries name paths, link
// targets, owners and modes, and a hostile layer will try to name paths
// outside the layer directory: "../../etc/passwd", "/etc/passwd", or the
// classic two-step where one entry plants a symlink "x -> /etc" and a later
// entry (or layer) writes "x/passwd" through it. Resolving entry names by
// joining strings and calling open(2) follows such symlinks; that is how
// extraction bugs become host compromises.
//
// # The defence
//
// Every entry is applied relative to a directory file descriptor, never a
// path string. The parent directory of an entry is reached with
// openat2(2) using RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS,
// so the kernel itself refuses to leave the layer directory or to cross any
// symlink on the way (on kernels without openat2 the same walk is done one
// component at a time with openat(O_NOFOLLOW)). The last component is
// created with the *at(2) call for its type (openat O_CREAT|O_EXCL|O_NOFOLLOW,
// mkdirat, symlinkat, mknodat, linkat without AT_SYMLINK_FOLLOW), so an
// existing symlink there is replaced, never followed. Names containing ".."
// or starting with "/" are rejected before any system call. Every rejection
// is an [*EntryError] naming the entry.
//
// # Whiteouts
//
// OCI layers mark deletions with whiteout files: ".wh.NAME" deletes NAME
// from the layers below, ".wh..wh..opq" in a directory hides everything the
// lower layers had in it. Two modes apply them:
//
//   - [Overlay] (the default) keeps one directory per layer for overlayfs,
//     which has its own spelling of the same idea: a whiteout is a character
//     device with device number 0/0, an opaque directory carries the xattr
//     trusted.overlay.opaque="y".
//   - [Flatten] applies layers in order into a single directory; a whiteout
//     deletes the path, an opaque marker deletes the directory's children
//     that earlier layers put there.
//
// # Rootless
//
// [Rootless] unpacks as an unprivileged user: owners are not applied,
// device nodes are skipped (only whiteouts, the 0/0 device, need no
// privilege, since Linux 5.8), opaque directories are marked with
// user.overlay.opaque for an overlay mounted with "userxattr" in a user
// namespace, and directories stay writable by their owner until the layer
// (or, in [Merge], the last layer) is complete. Layers may set neither
// trusted.overlay.* nor user.overlay.* xattrs themselves.
//
// # Metadata
//
// Owners are set with fchownat before modes (chown(2) clears set-user-ID and
// set-group-ID bits) and before xattrs (it also clears security.capability);
// times last, with AT_SYMLINK_NOFOLLOW so symlinks get their own mtimes, and
// directory times once the whole layer is written, since creating a child
// changes its parent's mtime.
package layer
