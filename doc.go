// Package hull is the facade for programs that embed hull: it answers the
// first question any runtime user asks — can this machine run containers
// and micro-VMs, and if not, why? — the way "hull check" prints it.
//
// Check gathers facts, judges them, and returns a Report:
//
//	gather   runtime/probe tries each kernel feature in a throwaway child
//	         or a thread that dies afterwards (namespaces, user
//	         namespaces, overlayfs, seccomp, pidfd, idmapped mounts);
//	         cgroups.DetectHost reads /proc/self/mountinfo and
//	         /proc/self/cgroup; vmm/cpuid executes CPUID and reads the
//	         firmware's MSRs through /dev/cpu/N/msr; vmm/kvm opens /dev/kvm
//	         and asks KVM_GET_API_VERSION and KVM_CHECK_EXTENSION
//	evaluate a pure function from those facts to items, each ok, degraded
//	         or missing, with what was checked in kernel terms and a
//	         concrete remedy
//	decide   containers can run unless an item they require is missing;
//	         micro-VMs likewise
//
// Everything that is not a file (CPUID leaves, MSRs, probe outcomes, KVM's
// answers) is recorded as JSON, and everything that is (the cgroup mounts,
// /proc/cpuinfo, /sys/module) is copied, by Record ("hull check --record
// DIR"); WithFixture replays such a directory through the same evaluation,
// which is how the tests cover Intel and AMD machines, firmware that
// disabled VT-x, guests of other hypervisors and every cgroup mode on one
// development host.
package hull
