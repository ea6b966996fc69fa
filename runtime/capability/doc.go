// Package capability sets the five Linux capability sets of a thread as the
// OCI spec's process.capabilities says, and reads them back.
//
// # Kernel interfaces
//
//   - capget(2), capset(2) with _LINUX_CAPABILITY_VERSION_3: effective,
//     permitted and inheritable (64 bits each, as two 32-bit halves);
//   - prctl(2) PR_CAPBSET_READ, PR_CAPBSET_DROP: the bounding set;
//   - prctl(2) PR_CAP_AMBIENT (CLEAR_ALL, RAISE, IS_SET): the ambient set;
//   - prctl(2) PR_SET_KEEPCAPS: keep the permitted set across setuid;
//   - /proc/sys/kernel/cap_last_cap (Last) and /proc/<pid>/status
//     (ReadStatus: CapInh, CapPrm, CapEff, CapBnd, CapAmb).
//
// # Order in a container's init
//
// Each step needs what a later one removes, so a runtime's init does, on
// the thread that will execve the container's process:
//
//	prctl(PR_CAPBSET_DROP, …)   DropBounding   needs CAP_SETPCAP
//	prctl(PR_SET_KEEPCAPS, 1)   KeepCaps(true) else setuid empties permitted
//	setgroups, setgid, setuid   (the runtime)  needs CAP_SETGID, CAP_SETUID
//	prctl(PR_SET_KEEPCAPS, 0)   KeepCaps(false)
//	capset(eff, perm, inh)      SetProcess     from the kept permitted set
//	prctl(PR_CAP_AMBIENT, …)    SetAmbient     needs perm and inh
//	execve
//
// State.ApplyAsUser runs exactly this sequence around the runtime's own
// user switch; State.Apply (and Apply) the same without it.
//
// At execve the kernel computes the new sets from these (capabilities(7)):
// for a non-root program without file capabilities, permitted and effective
// become the ambient set, which is how a container process running as an
// ordinary user keeps, say, CAP_NET_BIND_SERVICE.
package capability
