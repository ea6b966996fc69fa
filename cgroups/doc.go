// Package cgroups places containers in Linux control groups and applies the
// OCI runtime spec's linux.resources to them, on cgroup v2 and, for hybrid
// and legacy hosts, on cgroup v1.
//
// # Kernel interfaces
//
// Everything is files under the cgroup mounts (cgroups(7),
// Documentation/admin-guide/cgroup-v2.rst) plus three system calls:
// bpf(2) to load and attach the v2 device filter, inotify(7) to watch
// memory.events, and eventfd(2) with cgroup.event_control for v1 OOM
// notifications. The host is read from /proc/self/mountinfo and
// /proc/self/cgroup (DetectHost).
//
// # Use
//
//	host, err := cgroups.DetectHost("/")             // once per process
//	m, err := cgroups.New(host, cgroups.Config{Path: spec.Linux.CgroupsPath})
//	err = m.Create()                                 // mkdir
//	err = m.Set(spec.Linux.Resources)                // plan, then write
//	// start the container's init in it: on v2 clone3 with
//	// CLONE_INTO_CGROUP (exec.Cmd SysProcAttr.UseCgroupFD with the fd from
//	// m.OpenUnified()), else m.Apply(pid) before it runs user code
//	err = m.Set(update)                              // "hull update"
//	st, err := m.Stats()                             // "hull events --stats"
//	ooms, err := m.OOM(ctx)                          // "hull events"
//	err = m.Kill(ctx, unix.SIGKILL)                  // "hull kill --all", delete --force
//	parents := m.Created()                           // keep in the state: the parents Create made
//	...
//	m, err = cgroups.New(host, cgroups.Config{Path: p, CreatedParents: parents})
//	err = m.Destroy(ctx)                             // "hull delete": waits, removes, and the empty parents
//
// New picks the driver: v2 on a unified host; v1 on hybrid and legacy
// hosts, where the v1 driver also makes the container's cgroup in the
// cgroup2 hierarchy if one is mounted (as runc does) and uses it for the
// controllers bound there, for cgroup.kill, and for OpenUnified.
//
// The cgroupsPath is absolute (from the root of each hierarchy) or
// relative to the caller's own cgroup, so a runtime started inside a
// delegated cgroup stays inside it. The systemd driver ("slice:prefix:name",
// --systemd-cgroup) is not supported yet: New returns ErrSystemd.
//
// # Plans
//
// Set never writes before it has checked every field: PlanV2 and PlanV1
// are pure functions of the resources and the host's Features that return
// a Plan (controllers to enable, ordered file writes, the compiled device
// filter) or every problem at once, each named by its spec path:
//
//	linux.resources.memory.kernel: not supported on cgroup v2 (kernel memory is part of memory.max)
//
// Plan.String prints it the way a shell would do it; the golden files in
// testdata/golden show a full resources block on each kind of host.
//
// On v2, the controllers a plan needs are enabled in cgroup.subtree_control
// of every cgroup from the caller's own (or the root, for an absolute path
// outside it) down to the container's parent, and only those. Enabling one
// in a cgroup that holds processes fails with EBUSY — cgroup v2's
// no-internal-processes rule — and the error says so.
//
// # linux.resources on each version
//
//	field                         cgroup v2                              cgroup v1
//	memory.limit                  memory.max (-1: "max")                 memory.limit_in_bytes
//	memory.reservation            memory.low                             memory.soft_limit_in_bytes
//	memory.swap (memory+swap)     memory.swap.max = swap − limit         memory.memsw.limit_in_bytes
//	memory.kernel                 error                                  memory.kmem.limit_in_bytes
//	memory.kernelTCP              error                                  memory.kmem.tcp.limit_in_bytes
//	memory.swappiness             error                                  memory.swappiness
//	memory.disableOOMKiller       error when true                        memory.oom_control
//	memory.useHierarchy           error when false                       memory.use_hierarchy
//	memory.checkBeforeUpdate      fail if memory.current > new limit     same, memory.usage_in_bytes
//	cpu.shares                    cpu.weight = 1+(shares−2)·9999/262142  cpu.shares
//	cpu.quota, cpu.period         cpu.max "QUOTA PERIOD" (−1: "max")     cpu.cfs_quota_us, cpu.cfs_period_us
//	cpu.burst                     cpu.max.burst                          cpu.cfs_burst_us
//	cpu.idle                      cpu.idle                               cpu.idle
//	cpu.realtimeRuntime/Period    error                                  cpu.rt_runtime_us, cpu.rt_period_us
//	cpu.cpus, cpu.mems            cpuset.cpus, cpuset.mems               cpuset.cpus, cpuset.mems
//	pids.limit                    pids.max (≤0: "max")                   pids.max
//	blockIO.weight                io.bfq.weight (BFQ) and/or io.weight   blkio.weight (blkio.bfq.weight)
//	                              = 1+(weight−10)·9999/990 (blk-iocost)
//	blockIO.leafWeight            error                                  blkio.leaf_weight
//	blockIO.weightDevice          "MAJ:MIN W" to io.bfq.weight for a     blkio.weight_device
//	                              disk on BFQ, else io.weight
//	blockIO.throttle*Device       io.max "MAJ:MIN rbps|wbps|riops|wiops=N" blkio.throttle.*_device
//	                              (rate 0: "max")
//	hugepageLimits                hugetlb.SIZE.max (+ .rsvd.max)         hugetlb.SIZE.limit_in_bytes (+ rsvd)
//	rdma                          rdma.max "DEV hca_handle=N hca_object=M" rdma.max
//	network.classID               error                                  net_cls.classid
//	network.priorities            error                                  net_prio.ifpriomap
//	unified                       written as given, last; the key's      hybrid: written on the cgroup2 side
//	                              controller is enabled and must be      for controllers bound there (and
//	                              delegated                              cgroup.*); else error
//	devices                       BPF_PROG_TYPE_CGROUP_DEVICE program    devices.allow, devices.deny
//
// A field that is absent (nil) is not written; update passes only what
// changes. Hybrid hosts write hugetlb limits on the cgroup2 side when the
// hugetlb controller is bound there.
//
// # Devices
//
// cgroup v2 has no devices controller: the kernel runs eBPF programs
// attached to the cgroup (BPF_CGROUP_DEVICE) on every open and mknod of a
// device node. linux.resources.devices is compiled into such a program by
// a small assembler in this package (no cgo, no libbpf), with runc's
// semantics: for each access asked (read, write, mknod) the last rule that
// covers the device and that access decides; none → allowed. A list that
// starts with the usual deny-all therefore allows only what follows. The
// program is attached with BPF_F_ALLOW_MULTI, so a parent's filter (from
// systemd, or an outer runtime) keeps its say; on update the new program
// is attached before the old one is detached. DeviceFilter.String prints
// the program in the verifier's notation.
//
// v1 has a devices controller, but it holds a default and a list of
// exceptions that each write edits, rather than running a rule list:
// written in order, the OCI rules would mean something else there (a
// later deny cannot take part of a wildcard back, access split across
// rules does not add up, "a *:* r" resets everything). So the v1 driver
// emulates the controller, as runc does: from the rule list it computes
// the state (default and exceptions) that answers every open and mknod
// exactly as the v2 program does, reads the cgroup's devices.list, and
// writes only the difference, taking access away before it adds any. A
// list that no v1 state can express (an exception cannot single one
// device out of a wildcard, as in "allow c 1:* rw" then "deny c 1:3 w"
// after a deny-all) is refused with the devices named. A cgroup that
// allows by default hides its exceptions in devices.list; going to or
// from that state starts with the "a" rule, which the kernel refuses
// (EINVAL) once the cgroup has children.
//
// The rules given are the rules applied: the runtime adds the devices
// every container needs (/dev/null, /dev/zero, ..., /dev/pts/*), as runc
// does, before it calls Set.
//
// # Freezer, kill, removal
//
// v2 freezes with cgroup.freeze and waits for "frozen 1" in cgroup.events;
// v1 writes FROZEN to freezer.state until it reads back FROZEN. Kill uses
// cgroup.kill for SIGKILL where it exists (Linux 5.14; also the cgroup2
// side of a hybrid host) and otherwise freezes, signals every process in
// the cgroup and below, and thaws. Destroy waits, bounded by ctx and
// DestroyTimeout, for the cgroup to empty: on v2 it sleeps on an inotify
// watch of cgroup.events until "populated 0" (the kernel notifies the file
// when a key changes); v1 has no such file, so it retries rmdir (on a
// hybrid host after waiting on the cgroup2 side's cgroup.events). Then it
// removes the cgroup, every cgroup the container made below it, and the
// parents that Create made (Manager.Created, carried to another process
// in Config.CreatedParents) as long as they are empty. It never removes
// the caller's own cgroup or one it did not make.
//
// # Stats and events
//
// Stats returns runc's "events --stats" shape (cpu, cpuset, memory, pids,
// blkio, hugetlb; PSI pressure on v2), with memory.events (v2) or the oom
// counters of memory.oom_control (v1) in Memory.Events. OOM sends one
// value per OOM kill: v2 watches memory.events with inotify; v1 registers
// an eventfd for memory.oom_control through cgroup.event_control.
package cgroups
