// Package image is hull's image subsystem: it pulls OCI and Docker images
// from registries, keeps their content once on disk, unpacks layers safely
// and turns an image into the root filesystem and config.json of an OCI
// runtime bundle.
//
// The work is split into small packages, each named for what it provides,
// and the data flows one way through them:
//
//	registry ──pull──▶ store (blobs by digest, layers by chain ID, image records)
//	                     │
//	                     ├──layer──▶ one directory per layer (overlayfs whiteouts)
//	                     │
//	                     ├──rootfs─▶ an overlay mount (as data) or a flattened copy
//	                     │
//	                     └──bundle─▶ config.json from the image config
//
// The packages:
//
//   - [github.com/hullrt/hull/image/layer] applies a tar stream to a
//     directory without ever resolving a path outside it.
//   - [github.com/hullrt/hull/image/store] is the content-addressed store
//     under /var/lib/hull, crash-safe and shared by concurrent pulls.
//   - [github.com/hullrt/hull/image/pull] speaks the distribution protocol
//     (through go-containerregistry) and streams layers straight into the
//     unpacker.
//   - [github.com/hullrt/hull/image/rootfs] describes overlay mounts of the
//     layer directories, and flattens layers for the copy-based fallback.
//   - [github.com/hullrt/hull/image/bundle] writes an OCI runtime bundle the
//     way "umoci unpack" does.
//   - [github.com/hullrt/hull/image/registrytest] runs a real registry on
//     loopback for tests and builds test images.
package image
