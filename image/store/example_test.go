package store_test

import (
	"fmt"

	"github.com/hullrt/hull/image/store"
)

// Two images whose first layers have the same diffIDs share those layers'
// chain IDs, and so their directories in the store.
func ExampleChainIDs() {
	base := "sha256:" + "aa00000000000000000000000000000000000000000000000000000000000000"[:64]
	app := "sha256:" + "bb00000000000000000000000000000000000000000000000000000000000000"[:64]
	for _, id := range store.ChainIDs([]string{base, app}) {
		fmt.Println(id[:19])
	}
	// Output:
	// sha256:aa0000000000
	// sha256:984b64af5578
}

func ExampleNormalize() {
	n, _ := store.Normalize("busybox")
	fmt.Println(n)
	// Output: index.docker.io/library/busybox:latest
}
