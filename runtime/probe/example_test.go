package probe_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hullrt/hull/runtime/probe"
)

// Run tries each feature and reports it in system-call terms, e.g.
// "clone(CLONE_NEWTIME): ok (time:[4026532313], caller in
// time:[4026531834])".
func ExampleRun() {
	f, err := probe.Run(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, ns := range f.Namespaces {
		fmt.Println(ns.Outcome)
	}
	fmt.Println(f.Overlay)
	fmt.Println(f.IDMapped)
}
