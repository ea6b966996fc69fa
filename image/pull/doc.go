// Package pull fetches images from OCI and Docker registries into a
// [store.Store].
//
// The distribution protocol (reference parsing, the token and basic auth
// dance, manifest content negotiation) is go-containerregistry's; this
// package decides what to fetch and streams it:
//
//  1. resolve the reference to a manifest (through the registry's mirrors
//     first, when the config names some), choosing from a manifest list or
//     OCI index the entry for the wanted platform;
//  2. fetch the image config (verified against its digest) and compute
//     each layer's chain ID from the diffIDs it lists;
//  3. for each layer not already in the store, concurrently: GET the blob
//     and pipe it, as it arrives, through a sha256 of the compressed bytes,
//     the gzip/zstd decoder, a sha256 of the tar stream (the diffID) and
//     the secure unpacker ([layer.Unpack]) into a fresh directory. There is
//     no temporary tarball. When the connection drops, the download resumes
//     where it stopped with an HTTP Range request, invisibly to the
//     decoder. Only when both digests and the size match is the directory
//     renamed into the store. What an interrupted pull (Ctrl-C, a crash)
//     received is kept in the store's tmp/ and replayed by the next pull
//     of the same blob, which downloads only the rest: all of it for a
//     blob slow to fetch, only its first MiBs for one that arrives within
//     seconds anyway (keep.go says why);
//  4. store the config, manifest and index blobs, then the image record
//     and its name.
//
// A digest or size mismatch anywhere fails the pull and stores nothing:
// the failing layer never leaves tmp/, no record is written, and the
// layers this pull did store are discarded again ([store.Store.Discard]),
// with their partial downloads, unless another pull runs at that moment
// and might share them; then [store.Store.Prune] collects them later.
// An interrupted pull (its context cancelled) records no image either,
// but keeps its complete layers and partial downloads for the next one.
package pull
