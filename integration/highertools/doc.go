// Package highertools runs hull the way its first users do: as the OCI
// runtime behind podman and containerd.
//
// Its tests drive Debian 12's podman 4.3 (through conmon) and containerd
// 1.6 (through ctr and the io.containerd.runc.v2 shim) with their runtime
// pointed first at runc, the reference, and then at hull. Each flow — a
// foreground run with stdin, stdout and exit codes, a terminal for the
// container and one for an exec'd process, a detached
// container with exec, stop and rm, memory and pids limits read from the
// container's own cgroup files and enforced by the kernel, pause and
// resume seen in the freezer, update, kill --all, delete --force of a
// container already gone — is written once against a small engine
// interface and run for every (engine, runtime) pair.
//
// runc sets the bar: where runc passes a flow and hull does not, the test
// fails unless testdata/highertools-known-failures.txt (in the integration
// directory) names the flow with a reason; a listed flow that passes is
// reported so that the list only shrinks.
//
// Nothing is shared with the host's own podman or containerd: podman gets
// its own --root, --runroot, --tmpdir and containers.conf, containerd its
// own daemon, root, state directory, socket and namespace; every container
// lives in a cgroup below the test process's own. After each flow the test
// asserts that no container, process, mount, cgroup or runtime state of
// the flow is left behind.
//
// What ctr 1.6 cannot say is not held against either runtime: it has no
// update verb (CRI's UpdateContainerResources is containerd's only
// caller of the runtime's update) and no pids limit flag, so for
// containerd the update flow is reported as not applicable and the limits
// flow checks memory only. ctr gives a container no /sys/fs/cgroup, so
// the tests mount a cgroup filesystem there as CRI does.
//
// Two things the tools write outside the test's directories on their
// own: podman records layer digests in the host-wide blob-info cache
// /var/lib/containers/cache/blob-info-cache-v1.boltdb (a cache, not a
// container resource), and the run directories /run/containers/networks
// and /run/containerd/{fifo,s,runc}, which the test removes when it
// created them and finds them empty.
//
// The tests need root, a cgroup v1 (hybrid) host, and the Debian packages
// podman (with conmon), containerd, runc and busybox-static.
package highertools
