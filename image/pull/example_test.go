package pull_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hullrt/hull/image/pull"
	"github.com/hullrt/hull/image/store"
)

// Pull an image for arm64 into the default store, printing progress.
func ExamplePull() {
	st, err := store.Open(store.DefaultRoot)
	if err != nil {
		log.Fatal(err)
	}
	im, err := pull.Pull(context.Background(), st, "busybox:latest",
		pull.WithPlatform("linux/arm64"),
		pull.WithProgress(func(e pull.Event) {
			fmt.Println(e.Kind, e.Digest, e.Current, e.Total)
		}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(im.Digest, len(im.Layers), "layers")
}
