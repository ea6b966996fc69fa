// Package store keeps images on disk: content-addressed blobs, unpacked
// layers keyed by chain ID, and image records by name and digest.
//
// # Layout
//
//	ROOT/                       default /var/lib/hull
//	  blobs/sha256/HEX          manifests, indexes and configs, named by digest
//	  layers/HEX/               one unpacked layer, HEX its chain ID
//	    diff/                   the layer's files, with overlayfs whiteouts
//	    layer.json              its diffID, parent, size, source blob
//	  images/HEX.json           one image record, HEX its manifest digest
//	  refs.json                 names → manifest digests
//	  tmp/                      work in progress, removed by Prune
//	  lock, locks/HEX           flock(2) files
//
// A layer's chain ID (image-spec config.md) names the layer together with
// every layer under it: two images that share their first layers share
// those directories, so a layer is stored and pulled once.
//
// # Crash safety
//
// Nothing appears under its final name before it is complete and on disk:
// files are written under tmp/, fsync(2)ed and rename(2)d into place, and
// the parent directory is fsynced; an unpacked layer is syncfs(2)ed before
// its directory is renamed; a layer is deleted by renaming it into tmp/
// first. A crash (or Ctrl-C) therefore leaves only complete entries plus
// litter in tmp/, which Prune removes. The order of
// writes in a pull is blobs, then layers, then the image record, then the
// name: a record only ever points at content that exists.
//
// # Locking
//
// Concurrent pulls, possibly from several processes, cooperate through
// flock(2): a shared lock on ROOT/lock for as long as a pull or unpack
// runs ([Store.Hold]), an exclusive one for [Store.Prune], so garbage
// collection never removes a layer a pull has written but not yet
// recorded; an exclusive lock on locks/HEX while one layer is created, so
// two pulls sharing a layer unpack it once; and an exclusive lock on
// refs.json's lock while names change.
package store
