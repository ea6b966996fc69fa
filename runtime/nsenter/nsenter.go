// Package nsenter enters a container's user, mount and time namespaces
// before the Go runtime starts.
//
// setns(2) into a user namespace requires a single-threaded caller, into
// a mount namespace a caller that shares its filesystem attributes with
// no other thread, and into a time namespace a single-threaded caller
// too. A Go program has several threads before main runs, all sharing
// their fs attributes (CLONE_FS), so it can never do these three. A C
// constructor can: it runs in the new process before the Go runtime
// creates its first thread.
//
// The protocol is one environment variable. hull starts its own sealed
// copy (for "exec", or for "create" with a namespace given by path) with
//
//	_HULL_NSENTER=user=/proc/1234/ns/user,mnt=/proc/1234/ns/mnt
//
// and the constructor opens every file first, then enters them in the
// order user, time, mnt, unsets the variable and lets Go start. On
// failure it sends {"type":"error",...} on the sync socket whose number
// is in _HULL_INIT (the runtime's usual error message) and exits 1.
//
// A new time namespace is made here too, when _HULL_TIMENS is set (to
// the offsets, "monotonic 3600 0;boottime 86400 0", or empty): unshare,
// write /proc/self/timens_offsets, setns into
// /proc/self/ns/time_for_children, after the user namespace is entered
// and before the mount namespace is. Only so does the init itself (not
// just its children) run in it on kernels whose execve does not switch
// time namespaces (6.1).
//
// The other namespaces (ipc, uts, net, pid, cgroup) need no such trick:
// the runtime enters them on a locked OS thread of the parent just before
// forking, and the child inherits them; a pid namespace, which setns only
// applies to children, is entered that way for free.
//
// Unless the runtime is unprivileged: setns into those wants
// CAP_SYS_ADMIN in the caller's own user namespace as well, which an
// unprivileged parent never has. Then _HULL_NSENTER lists every
// namespace, the constructor enters them in the order user, ipc, uts,
// net, pid, cgroup, time, mnt, and forks: its child, in the pid
// namespace, goes on to be the runtime's process; the constructor sends
// {"type":"pid","pid":N} on the sync socket, closes it, passes on every
// signal it gets, and exits as the child exits (its exit code, or its
// signal), so that the runtime waits for it as for the program.
//
// Everything else the runtime does in Go. Importing this package is what
// links the constructor in; the runtime does so by calling Entered.
//
// Built without cgo the package has no constructor: Linked and Entered
// report false, and the runtime refuses what needs one. hull is built so
// (it starts faster without the C library); the program that needs the
// constructor is the container's init, hull-init, built with cgo.
package nsenter

// #cgo CFLAGS: -Wall -O2
// extern int hull_nsenter_done;
import "C"

// Entered reports whether the constructor entered namespaces in this
// process.
func Entered() bool { return C.hull_nsenter_done != 0 }

// Linked reports whether the constructor is part of this program.
func Linked() bool { return true }
