// Package unixsock connects to AF_UNIX stream sockets and sends on them
// with plain system calls (socket, connect, sendmsg, poll).
//
// The runtime talks to two sockets of its caller's: --console-socket,
// which receives the pty master, and a seccomp agent's listenerPath,
// which receives the listener fd. Package net would do both, but a
// package that imports net makes every hull process, the container's
// init included, initialise net and what sorts before it (regexp, the
// TLS and compression tables of the image code...) before the runtime
// package's own init, where the container's init runs (see init in
// runtime's init_linux.go for what that costs).
package unixsock
