package cli

import (
	"fmt"
	"os"
	"syscall"

	"github.com/hullrt/hull/internal/sibling"
)

// EngineProgram is the program that holds the engine's families,
// installed next to hull.
const EngineProgram = "hull-engine"

// A Family is one of hull-engine's verb families, as hull lists it.
type Family struct {
	Name    string
	Aliases []string
	Short   string
}

// EngineFamilies are the verb families hull-engine carries, which hull
// lists as its own and executes hull-engine for.
var EngineFamilies = []Family{
	{Name: "check", Short: "tell whether this machine can run containers and micro-VMs, and what to change"},
	{Name: "container", Aliases: []string{"ctr"}, Short: "run containers from images, the way docker and podman do"},
	{Name: "image", Short: "pull, list and unpack container images"},
	{Name: "network", Short: "list, inspect and clean up container networks"},
}

// EngineFamily returns the family called name (it panics if there is none:
// the table above is the only source of the names).
func EngineFamily(name string) Family {
	for _, f := range EngineFamilies {
		if f.Name == name {
			return f
		}
	}
	panic("no engine family " + name)
}

// ExecEngine replaces this process with hull-engine, next to the running
// executable, with args after argv[0] (which stays, so that its messages
// say "hull") and the same environment. It returns only on failure.
func ExecEngine(args []string) error {
	path := sibling.Path(EngineProgram)
	if path == "" {
		return fmt.Errorf("finding %s: the path of this program is unknown", EngineProgram)
	}
	err := syscall.Exec(path, append(os.Args[:1:1], args...), os.Environ())
	return fmt.Errorf("this verb runs in %s, which hull executes from its own directory: execve %s: %w", EngineProgram, path, err)
}
