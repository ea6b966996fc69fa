// Package runtime is hull's OCI runtime: it turns a bundle's config.json
// into a running container, the way runc, crun and youki do, and keeps
// runc's command line and state semantics so that podman, containerd and
// CRI-O can drive it.
//
// # Data flow
//
// The data flows one way:
//
//	config.json ─LoadSpec─▶ *specs.Spec ─Validate─▶ ─NewPlan─▶ *Plan
//	    ─(parent: namespaces, cgroup, hooks)─▶ init ─(Plan.Steps in order)─▶ execve
//
// Validation and planning are pure functions of the spec and a few
// options; only applying the plan makes system calls. A Plan is printable
// data: "hull create --explain" prints the very steps the container's
// init would run, in system-call terms, and the golden files in testdata
// pin them.
//
// # Processes
//
// The container's init runs hull-init, a program next to hull that links
// only this package (cmd/hull-init), or, where there is none, hull itself
// re-executed as "hull init"; either way the init runs from this package's
// init function, and a smaller program only starts sooner. It is executed
// from a private read-only mount of the file (open_tree + mount_setattr),
// or from a sealed memfd copy when rootless, so that nothing in the
// container can write to the host's binary through /proc/<pid>/exe
// (CVE-2019-5736; exe_linux.go). New namespaces are clone flags
// (exec.Cmd's SysProcAttr.Cloneflags, with UidMappings/GidMappings written
// by Go before the child runs, or, rootless with subordinate ids, by
// newuidmap and newgidmap once it runs: rootless_linux.go); namespaces
// given by path are entered by a locked OS thread of the parent just
// before the fork (net, ipc, uts, pid, cgroup) or, for user, mnt and time,
// which a multi-threaded Go process cannot enter, by the C constructor of
// runtime/nsenter in the child before the Go runtime starts. hull-init is
// the only one of hull's programs built with cgo, so the only one with
// that constructor: hull itself is pure Go, and re-executed as the init it
// refuses what needs the constructor (needConstructor), naming hull-init.
// The cgroup namespace is unshared by the init itself once the parent has
// moved it into its cgroup, so that its root is the container's cgroup.
//
// # The sync protocol
//
// Parent (hull create) and init talk over a SOCK_SEQPACKET socketpair, one
// JSON message per packet (sync.go); "hull start" reaches the init only
// through exec.fifo in the state directory:
//
//	hull create                                  hull init (in the new namespaces)
//	───────────                                  ─────────────────────────────────
//	mkdir <root>/<id>; mkfifo exec.fifo
//	clone ─────────────────────────────────────▶ (nsenter constructor: setns user, time, mnt)
//	state.json (creating); cgroup: Create, Set   Go starts; runtime's init() runs Init
//	(while the init starts)
//	state.json (pid); cgroup Apply(pid)          reads the plan
//	── {"type":"plan", plan, state, fds} ──────▶ setsid; unshare(CLONE_NEWCGROUP);
//	                                             mounts, devices, symlinks
//	◀─────────────────────── {"type":"hooks"} ── (if prestart/createRuntime hooks)
//	run prestart, createRuntime hooks
//	── {"type":"hooksDone"} ───────────────────▶ createContainer hooks; pivot_root;
//	                                             console, sysctl, masks, ro paths,
//	                                             rlimits, user, caps, no_new_privs
//	◀── {"type":"seccomp"} + SCM_RIGHTS fd ──── (only for a notifying filter)
//	pass fd to listenerPath
//	── {"type":"seccompDone"} ─────────────────▶
//	◀─────────────────────── {"type":"ready"} ── (the program exists: looked up)
//	pid file; state.json (created); exit         open(exec.fifo, O_WRONLY) blocks ...
//
//	hull start
//	──────────
//	open(exec.fifo, O_RDONLY); rm exec.fifo ───▶ ... returns; write "0"
//	read "0", then the fifo's end ◀──────────── startContainer hooks; seccomp; execve
//	(execve closes the init's end); poststart    (closes the fifo, close-on-exec)
//
// Any step failing in the init is sent as {"type":"error","error":...}
// naming the step, path and errno ("init step 12, mount: mount proc on
// /b/rootfs/proc (0): operation not permitted"); the parent then undoes
// what it made (cleanups: the process, the cgroup, the state directory).
// An init whose parent dies fails its next read or write of the socket and
// exits; "hull delete --force" cleans up after a create killed at any
// point, from whatever state.json says.
//
// "hull exec" uses the same init and protocol with a shorter plan
// (ExecPlan): it enters every namespace of the container (by
// /proc/<init>/ns/*) and its cgroup, and execs without waiting on a fifo.
//
// # State
//
// A container's state is <root>/<id>/state.json plus exec.fifo while it
// is created. Every command takes flock(2) on the directory (exclusive
// to change, shared to read), and the status is derived from the kernel
// each time (is the init alive, with the same start time; is the fifo
// still there; is the cgroup frozen), so the state survives any command
// being killed.
//
// # Embedding
//
// Programs use the lifecycle through Runtime (New, Create, Start, State,
// Kill, Delete, Exec, ...). The init is hull-init when it is installed
// next to the calling program, and otherwise the calling program
// re-executed: in that process (IsInit) this package's init function
// runs the container's init itself, before the packages that import it
// initialise and before main, and never returns. Built with cgo (Go's
// default), the program carries runtime/nsenter's constructor too, which
// Exec and namespaces given by path need. A main that begins with
//
//	if runtime.IsInit() {
//		runtime.Init()
//	}
//
// as was once required, still works: it is never reached.
package runtime
