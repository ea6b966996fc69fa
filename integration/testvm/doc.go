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
// A test states what it needs with Require; see the README's "Test VM"
// section for how a package puts its tests through the VM.
package testvm
