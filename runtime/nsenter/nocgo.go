//go:build !cgo

package nsenter

// Entered reports whether the constructor entered namespaces in this
// process: never, in a program built without cgo.
func Entered() bool { return false }

// Linked reports whether the constructor is part of this program: not
// in a program built without cgo.
func Linked() bool { return false }
