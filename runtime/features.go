package runtime

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features describes what this build of hull implements, in the runtime
// spec's features.json shape ("hull features", read by containerd 2).
func Features() *features.Features {
	yes, no := true, false
	opts := knownMountOptions()
	sort.Strings(opts)
	caps := allCapabilities()
	var ns []string
	for t := range nsFlag {
		ns = append(ns, string(t))
	}
	sort.Strings(ns)
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         append([]string(nil), hookKinds...),
		MountOptions:  opts,
		Linux: &features.Linux{
			Namespaces:      ns,
			Capabilities:    caps,
			Cgroup:          &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no},
			Seccomp:         seccompFeatures(),
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			NetDevices:      &features.NetDevices{Enabled: &no},
		},
		Annotations: map[string]string{"org.hull.runtime": "hull"},
	}
}
