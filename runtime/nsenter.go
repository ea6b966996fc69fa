package runtime

import (
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/runtime/nsenter"
)

// needConstructor fails what needs the nsenter constructor in the
// process it starts (entering a user, mount or time namespace, an
// idmapped mount's user namespace) when the init's program lacks it:
// when it is this program, re-executed, and this program was built
// without cgo. hull is built so, and counts on hull-init next to it.
func needConstructor(what string) error {
	if initProgram() != "/proc/self/exe" || nsenter.Linked() {
		return nil
	}
	self, _ := os.Executable()
	return fmt.Errorf("%s needs %s next to %s: only a program built with cgo has runtime/nsenter's constructor, which enters them before the Go runtime starts, and this one was built without", what, InitProgramName, self)
}

// nsenterEnv returns the environment variable that asks the nsenter
// constructor (runtime/nsenter) to enter namespaces before the Go
// runtime starts, or "" when there is nothing it must do.
func nsenterEnv(join []JoinNamespace) string {
	var parts []string
	all := constructorEntersAll(join)
	for _, j := range join {
		if all || byConstructor(j.Type) {
			parts = append(parts, nsProcName[j.Type]+"="+j.Path)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return nsenterVar + "=" + strings.Join(parts, ",")
}

const nsenterVar = "_HULL_NSENTER"

// byConstructor reports whether a namespace can only be entered before
// the Go runtime starts: setns into user and time namespaces needs a
// single-threaded caller, into a mount namespace one whose fs attributes
// no other thread shares.
func byConstructor(t specs.LinuxNamespaceType) bool {
	return t == specs.UserNamespace || t == specs.MountNamespace || t == specs.TimeNamespace
}
