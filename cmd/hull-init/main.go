// Command hull-init is the program a container's init (and each process
// hull exec starts) runs: hull starts it in the container's new
// namespaces, and package runtime's init function, which runs before
// main, reads the plan from hull and executes it, ending in execve of
// the container's program. It links only the runtime, so that it starts
// sooner than hull itself, which also links the command line and the
// VMM (runtime's package documentation explains the split). It is
// installed next to hull, which finds it there; it is not meant to be
// run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/hullrt/hull/runtime"
)

func main() {
	if runtime.IsInit() {
		runtime.Init() // never returns; in practice already run by runtime's init
	}
	fmt.Fprintln(os.Stderr, "hull-init: a container's init, started by hull; not meant to be run by hand")
	os.Exit(2)
}
