#!/bin/sh
# bench/vm.sh: hull's micro-VM figures (issue #7), measured where /dev/kvm
# exists: inside the test VM (qemu TCG with nested AMD-V), which boots
# Debian's stock kernel under hull and under qemu -M microvm -accel kvm.
#
#   bench/vm.sh            # from the repository root, as root
#   BENCHTIME=5x bench/vm.sh
#
# It runs vmm's TestDebianInTestVM with HULL_VMM_BENCH set, which puts
# the host's qemu-system-x86_64 into the test VM and runs vmm's
# benchmarks there instead of the TestBoot* tests:
#
#   BenchmarkSetup           VMM setup, Start to the first KVM_RUN
#   BenchmarkBootToInit      hull vm run → the init's first line, vs qemu
#   BenchmarkMemoryOverhead  the VM process's RSS less guest RAM touched,
#                            a tiny guest's and Debian's, with the last
#                            process's mappings summed by what they hold
#
# Needs what the test VM needs (root, qemu-system-x86, busybox-static;
# the kernel is fetched on first use). One test VM at a time: on a shared
# machine run it under flock, e.g. flock /tmp/hull/vm.lock bench/vm.sh.
# Takes about 10 minutes with BENCHTIME=2x (each nested boot is slow).
set -eu
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! HULL_VMM_BENCH=${BENCH:-.} HULL_VMM_BENCHTIME=${BENCHTIME:-2x} \
	go test -count=1 -timeout 70m -run '^TestDebianInTestVM$' -v ./vmm >"$log" 2>&1; then
	cat "$log"
	exit 1
fi
# The guest's output reaches the host test's log as "guest_test.go:N: ...".
sed -n 's/^ *guest_test\.go:[0-9]*: //p' "$log" | grep -E '^(Benchmark|goos|goarch|cpu:|pkg:|memory )' | tee /dev/stderr |
awk '
/^BenchmarkSetup\/tiny/   { for (i = 1; i < NF; i++) if ($(i+1) == "ns/op") tiny = $i }
/^BenchmarkSetup\/debian/ { for (i = 1; i < NF; i++) if ($(i+1) == "ns/op") deb = $i }
/^BenchmarkBootToInit/ { for (i = 1; i < NF; i++) { if ($(i+1) == "hull-ms") h = $i; if ($(i+1) == "qemu-ms") q = $i; if ($(i+1) == "qemu/hull") r = $i } }
/^BenchmarkMemoryOverhead\/tiny.*-foreground/ { for (i = 1; i < NF; i++) if ($(i+1) == "smaps-overhead-KiB") tfg = $i; next }
/^BenchmarkMemoryOverhead\/debian.*-foreground/ { for (i = 1; i < NF; i++) if ($(i+1) == "smaps-overhead-KiB") fg = $i; next }
/^BenchmarkMemoryOverhead\/tiny/ { for (i = 1; i < NF; i++) { if ($(i+1) == "overhead-KiB") to = $i; if ($(i+1) == "anon-overhead-KiB") ta = $i; if ($(i+1) == "file-KiB") tf = $i; if ($(i+1) == "smaps-overhead-KiB") ts = $i } }
/^BenchmarkMemoryOverhead\/debian/ { for (i = 1; i < NF; i++) { if ($(i+1) == "overhead-KiB") o = $i; if ($(i+1) == "anon-overhead-KiB") a = $i; if ($(i+1) == "file-KiB") f = $i; if ($(i+1) == "smaps-overhead-KiB") s = $i; if ($(i+1) == "guest-KiB") g = $i } }
END {
	print ""
	if (tiny != "") printf "VMM setup to the first KVM_RUN: %.1f ms (tiny ELF, 64 MiB)", tiny / 1e6
	if (deb != "")  printf ", %.1f ms (Debian bzImage + initramfs, 256 MiB, 2 vCPUs)", deb / 1e6
	if (tiny != "") print ""
	if (r != "") printf "hull vm run to the init'\''s first line: hull %.2f s, qemu -M microvm %.2f s: qemu/hull = %.2f\n", h / 1000, q / 1000, r
	if (to != "") printf "hull'\''s memory overhead (RSS - guest RAM touched), tiny guest: %.1f MiB (anonymous %.1f MiB, files %.1f MiB; %.1f MiB in its smaps after answering)\n", to / 1024, ta / 1024, tf / 1024, ts / 1024
	if (o != "") printf "hull'\''s memory overhead (RSS - guest RAM touched), Debian: %.1f MiB (anonymous %.1f MiB, files %.1f MiB; %.1f MiB in its smaps after answering; guest touched %.1f MiB)\n", o / 1024, a / 1024, f / 1024, s / 1024, g / 1024
	if (tfg != "" || fg != "") printf "a foreground hull vm run, from its smaps: tiny guest %.1f MiB, Debian %.1f MiB\n", tfg / 1024, fg / 1024
}'
