// Package integration holds hull's end-to-end tests: the ones that run on
// the host, and TestInVM, which boots the test VM (package testvm) and
// runs the root, cgroup v2 and KVM tests of hull's packages inside it.
//
// The tests named TestGuest* prove the VM itself: they need what only the
// VM offers and are skipped elsewhere (testvm.Require).
package integration
