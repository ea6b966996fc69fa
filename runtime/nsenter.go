package runtime

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

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
