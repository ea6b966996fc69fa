// Package probe tries, for real, the kernel features a container runtime
// relies on, and reports what the kernel answered.
//
// Reading CONFIG_ options or /proc/filesystems says what a kernel was built
// with, not what it lets this process do: a seccomp policy, an LSM, a
// sysctl or a missing capability can still refuse. So every probe makes the
// system call the runtime will make, in a throwaway context that cannot
// leak:
//
//   - Namespaces: clone(2) of a child with CLONE_NEWCGROUP, _NEWIPC,
//     _NEWNS, _NEWNET, _NEWPID, _NEWTIME, _NEWUSER or _NEWUTS. The child
//     calls ptrace(PTRACE_TRACEME) and execs this very binary, so it stops
//     at its first instruction; the parent compares readlink(2) of
//     /proc/CHILD/ns/TYPE with its own (net:[4026532008] ≠ net:[4026531840]),
//     then SIGKILLs and reaps it. Without ptrace the child execs a path
//     that does not exist instead: ENOENT from execve proves clone worked.
//     A caller that is not root tries each one inside a new user namespace,
//     as a rootless runtime would.
//   - Unprivileged user namespaces: a thread that drops to nobody
//     (setresuid(2) on that thread only) clones with CLONE_NEWUSER; the
//     thread is never returned to the Go scheduler, so it dies with its
//     credentials. The sysctls user.max_user_namespaces,
//     kernel.unprivileged_userns_clone (Debian before 11) and
//     kernel.apparmor_restrict_unprivileged_userns (Ubuntu 24.04) explain
//     refusals; newuidmap/newgidmap and /etc/subuid, /etc/subgid say
//     whether the invoking user (SUDO_USER under sudo) may map more than
//     one id.
//   - overlayfs: a thread unshares its mount namespace (CLONE_NEWNS, made
//     MS_PRIVATE), mounts an overlay of two temporary directories, writes
//     through it and checks that the write landed in the upper directory.
//     The mount dies with the thread's namespace.
//   - seccomp: a thread sets PR_SET_NO_NEW_PRIVS and installs a filter
//     (seccomp(SECCOMP_SET_MODE_FILTER)) that fails getppid(2) with a chosen
//     errno, then calls getppid. Both are per-thread; the thread then dies.
//   - pidfd: pidfd_open(2) of this process and pidfd_send_signal(2) of
//     signal 0 through it.
//   - idmapped mounts: open_tree(2) with OPEN_TREE_CLONE makes a detached
//     copy of a temporary directory (or fsopen(2)/fsmount(2) a detached
//     tmpfs), mount_setattr(2) sets MOUNT_ATTR_IDMAP to a user namespace
//     mapping 0 → 100000, and fstat(2) through the copy must show the
//     root-owned directory as uid 100000. Closing the descriptor unmounts it.
//
// Run performs all of them; the result, Features, is plain data that
// marshals to JSON, so a machine's features can be recorded and replayed.
package probe
