#!/bin/sh
# bench/runtime.sh: hull's container start-up against runc and crun
# (issue #4's benchmark), as ratios: a busybox "true" container created,
# started, waited for and deleted through each runtime's command line,
# one "run" command and the create/start/delete commands a shim uses.
#
#   bench/runtime.sh             # from the repository root, as root
#   N=50 bench/runtime.sh
#
# On this host crun refuses the hybrid cgroup hierarchy, so the figures
# against crun come from the test VM (cgroup v2), which gets runc and
# crun from this host. One test VM at a time: on a shared machine run it
# under flock, e.g. flock /tmp/hull/vm.lock bench/runtime.sh.
# VM=0 skips the test VM.
set -eu
cd "$(dirname "$0")/.."
go run ./bench/runtime -n "${N:-20}"
if [ "${VM:-1}" != 0 ]; then
	go run ./bench/runtime -vm -n "${N:-20}"
fi
