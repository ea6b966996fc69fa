// Package testvm boots a real Linux kernel under qemu-system-x86_64 and runs
// the project's compiled test binaries inside it.
//
// The development and CI machines are cgroup v1 hybrid hosts with no
// /dev/kvm, so hull's cgroup v2 and KVM code cannot be proved there. The
// test VM closes that gap: Debian's stock linux-image-*-amd64 kernel boots
// under TCG software emulation with "-cpu max", which offers AMD-V with
// nested paging, so that /dev/kvm appears once kvm and kvm-amd are loaded,
// and cgroup2 mounted there has every controller.
//
// One test VM runs at a time on a machine (Run waits for a flock): two
// emulators on two cores starve each other, and nested KVM inside a
// starved emulator is where the test VM has frozen. A frozen emulator is
// told from a hung test by the heartbeat the guest's init writes on the
// console every 20 seconds: a test that hangs is ended by its binary's
// -test.timeout with every goroutine's stack, while a guest silent for
// FreezeAfter is stopped at once with qemu's view of its vCPUs, rather
// than at the caller's deadline.
//
// A test states what it needs with Require; see the README's "Test VM"
// section for how a package puts its tests through the VM.
package testvm
