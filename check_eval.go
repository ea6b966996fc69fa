package hull

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hullrt/hull/cgroups"
	"github.com/hullrt/hull/runtime/probe"
	"github.com/hullrt/hull/vmm/cpuid"
	"github.com/hullrt/hull/vmm/kvm"
)

// Report sections, in the order they are printed.
const (
	SectionKernel         = "kernel"
	SectionNamespaces     = "namespaces"
	SectionUserNamespaces = "user namespaces"
	SectionCgroups        = "cgroups"
	SectionFeatures       = "kernel features"
	SectionCPU            = "virtualization"
	SectionKVM            = "kvm"
)

// evaluate judges the facts. It makes no system calls: every fixture
// machine goes through exactly this code.
func evaluate(f *facts) *Report {
	r := &Report{Kernel: f.probe.Kernel, EUID: f.probe.EUID}
	if f.cpu.Vendor != "" {
		r.CPU = f.cpu.Vendor
		if f.cpu.Brand != "" {
			r.CPU += ", " + f.cpu.Brand
		}
	}
	r.Hypervisor = f.cpu.HypervisorName()
	if f.cgroups != nil {
		r.CgroupMode = f.cgroups.Mode.String()
	}
	e := &evaluation{facts: f, report: r}
	e.kernel()
	e.namespaces()
	e.userNamespaces()
	e.cgroups()
	e.features()
	e.cpu()
	e.kvm()
	r.decide()
	return r
}

type evaluation struct {
	*facts
	report  *Report
	section string
}

func (e *evaluation) add(name string, s Status, detail, remedy string, needs ...Need) {
	if s == OK {
		remedy = ""
	}
	e.report.Items = append(e.report.Items, Item{Section: e.section, Name: name, Status: s, Detail: detail, Remedy: remedy, RequiredFor: needs})
}

// outcome turns a probe outcome into an item: ok when it worked, bad
// otherwise.
func (e *evaluation) outcome(name string, o probe.Outcome, bad Status, remedy string, needs ...Need) {
	s := OK
	if !o.OK {
		s = bad
	}
	e.add(name, s, o.String(), remedy, needs...)
}

// path shows a path of the machine checked (inside a fixture, relative to
// its root).
func (e *evaluation) path(p string) string {
	if e.root == "/" || e.root == "" {
		return p
	}
	rel, err := filepath.Rel(e.root, p)
	if err != nil {
		return p
	}
	return "/" + rel
}

func (e *evaluation) rootless() bool { return e.probe.EUID != 0 }

func (e *evaluation) kernel() {
	e.section = SectionKernel
	maj, min, ok := probe.ParseKernelVersion(e.probe.Kernel)
	switch {
	case !ok:
		e.add("version", Degraded, fmt.Sprintf("uname release %q: not a version", e.probe.Kernel), "")
	case maj < 5 || maj == 5 && min < 12:
		e.add("version", Degraded, "Linux "+e.probe.Kernel+": older than 5.12, so some of pidfd_open (5.3), time namespaces (5.6) and idmapped mounts (5.12) are absent",
			"upgrade to Linux 5.12 or newer (Debian 12 ships 6.1)")
	default:
		e.add("version", OK, "Linux "+e.probe.Kernel+" (uname -r)", "")
	}
}

// nsRequired are the namespaces every container of a runc-style
// config.json asks for; the others are asked for by some.
var nsRequired = map[string]bool{"mnt": true, "pid": true, "net": true, "ipc": true, "uts": true}

// nsConfig is the kernel option that provides each namespace.
var nsConfig = map[string]string{
	"cgroup": "CONFIG_CGROUPS", "ipc": "CONFIG_IPC_NS", "mnt": "", "net": "CONFIG_NET_NS",
	"pid": "CONFIG_PID_NS", "time": "CONFIG_TIME_NS, Linux 5.6+", "user": "CONFIG_USER_NS", "uts": "CONFIG_UTS_NS",
}

func (e *evaluation) namespaces() {
	e.section = SectionNamespaces
	if len(e.probe.Namespaces) == 0 {
		e.add("all", Missing, "no namespace was probed", "run hull check on the machine itself", ForContainers)
		return
	}
	for _, ns := range e.probe.Namespaces {
		var needs []Need
		bad := Degraded
		if nsRequired[ns.Type] || ns.Type == "user" && e.rootless() {
			needs, bad = []Need{ForContainers}, Missing
		}
		e.outcome(ns.Type, ns.Outcome, bad, e.nsRemedy(ns), needs...)
	}
}

func (e *evaluation) nsRemedy(ns probe.Namespace) string {
	switch ns.Errno {
	case "EINVAL":
		return "use a kernel built with " + nsConfig[ns.Type] + " (Debian's linux-image-amd64 has every namespace)"
	case "ENOSPC", "EUSERS":
		return "raise the limit: sysctl -w user.max_" + ns.Type + "_namespaces=15000"
	case "EPERM", "EACCES":
		if e.rootless() {
			return "run as root, or allow unprivileged user namespaces (see the user namespaces section)"
		}
		return "something above the kernel forbids " + ns.Flag + " (a seccomp profile or LSM of the container hull runs in): run hull on the host, or in a privileged container"
	}
	return "dmesg may say why the kernel refused " + ns.Flag
}

func (e *evaluation) userNamespaces() {
	e.section = SectionUserNamespaces
	u := e.probe.UserNS
	needs := []Need(nil)
	if e.rootless() {
		needs = []Need{ForContainers}
	}
	switch {
	case u.MaxUserNamespaces < 0:
		e.add("max_user_namespaces", Degraded, "/proc/sys/user/max_user_namespaces is missing: the kernel lacks CONFIG_USER_NS", "use a kernel built with CONFIG_USER_NS", needs...)
	case u.MaxUserNamespaces == 0:
		e.add("max_user_namespaces", Missing, "/proc/sys/user/max_user_namespaces = 0: user namespaces are disabled for everyone",
			"sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d/)", needs...)
	default:
		e.add("max_user_namespaces", OK, fmt.Sprintf("/proc/sys/user/max_user_namespaces = %d", u.MaxUserNamespaces), "")
	}

	var remedy string
	switch {
	case u.MaxUserNamespaces == 0:
		remedy = "sysctl -w user.max_user_namespaces=15000"
	case u.UnprivilegedClone == 0:
		remedy = "sysctl -w kernel.unprivileged_userns_clone=1 (and persist it in /etc/sysctl.d/)"
	case u.AppArmorRestrict == 1:
		remedy = "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give hull an AppArmor profile that allows userns"
	default:
		remedy = "allow unprivileged user namespaces in the kernel's or the LSM's policy"
	}
	detail := u.Unprivileged.String()
	if u.UnprivilegedClone >= 0 {
		detail += fmt.Sprintf("; kernel.unprivileged_userns_clone = %d", u.UnprivilegedClone)
	}
	if u.AppArmorRestrict >= 0 {
		detail += fmt.Sprintf("; kernel.apparmor_restrict_unprivileged_userns = %d", u.AppArmorRestrict)
	}
	s := OK
	if !u.Unprivileged.OK {
		s = Degraded
		if e.rootless() {
			s = Missing
		}
	}
	e.add("unprivileged", s, detail, remedy, needs...)

	for _, h := range []probe.Helper{u.NewUIDMap, u.NewGIDMap} {
		switch {
		case h.Path == "":
			e.add(h.Name, Degraded, h.Name+": not found in $PATH: rootless containers can map only the caller's own id",
				"apt-get install uidmap (dnf install shadow-utils)")
		case !h.Usable():
			e.add(h.Name, Degraded, h.Name+": "+h.Path+" is neither setuid root nor given file capabilities",
				"chmod u+s "+h.Path+" (or setcap cap_setuid,cap_setgid+ep "+h.Path+")")
		default:
			how := "setuid root"
			if !h.Setuid {
				how = "file capabilities"
			}
			e.add(h.Name, OK, h.Name+": "+h.Path+" ("+how+")", "")
		}
	}

	who := fmt.Sprintf("user %q", u.User)
	switch {
	case u.SubIDErr != "":
		e.add("subordinate ids", Degraded, "reading /etc/subuid and /etc/subgid: "+u.SubIDErr, "fix the syntax: one user:start:count per line")
	case u.UID == 0:
		e.add("subordinate ids", OK, who+" is root: it maps any id without /etc/subuid (other users' rootless containers need ranges there)", "")
	case len(u.SubUID) == 0 || len(u.SubGID) == 0:
		name := u.User
		if name == "" {
			name = "USER"
		}
		e.add("subordinate ids", Degraded, fmt.Sprintf("%s: /etc/subuid %s, /etc/subgid %s: rootless containers get a single id", who, ranges(u.SubUID), ranges(u.SubGID)),
			"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "+name)
	default:
		e.add("subordinate ids", OK, fmt.Sprintf("%s: /etc/subuid %s, /etc/subgid %s", who, ranges(u.SubUID), ranges(u.SubGID)), "")
	}
}

func ranges(rs []probe.IDRange) string {
	if len(rs) == 0 {
		return "has no range"
	}
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d-%d (%d ids)", r.Start, uint64(r.Start)+uint64(r.Count)-1, r.Count))
	}
	return strings.Join(parts, ", ")
}

// v2Wanted are the cgroup v2 controllers hull's resource limits use.
var v2Wanted = []string{"cpu", "io", "memory", "pids"}

// v1Wanted are the v1 controllers hull uses on legacy and hybrid hosts.
var v1Wanted = []string{"cpu", "cpuacct", "memory", "pids", "devices", "freezer", "blkio", "cpuset"}

const unifiedRemedy = "boot with systemd.unified_cgroup_hierarchy=1 (add it to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub, reboot)"

func (e *evaluation) cgroups() {
	e.section = SectionCgroups
	h := e.facts.cgroups
	if h == nil {
		e.add("mode", Missing, "reading /proc/self/mountinfo and /proc/self/cgroup: "+errString(e.cgroupsErr),
			"mount -t cgroup2 none /sys/fs/cgroup", ForContainers)
		return
	}
	var v1 []string
	for c := range h.V1 {
		v1 = append(v1, c)
	}
	sort.Strings(v1)
	switch h.Mode {
	case cgroups.Unified:
		e.add("mode", OK, "unified: one cgroup2 hierarchy at "+e.path(h.Unified), "")
	case cgroups.Hybrid:
		e.add("mode", Degraded, fmt.Sprintf("hybrid: v1 hierarchies (%s) with a cgroup2 mount at %s that holds only %s; hull manages v1 here, and cgroup v2 features (eBPF device control, memory.high, PSI) are unavailable",
			joinNames(v1), e.path(h.Unified), joinNames(h.Controllers)), unifiedRemedy)
	case cgroups.Legacy:
		e.add("mode", Degraded, "legacy: v1 hierarchies only ("+joinNames(v1)+"); cgroup v2 features are unavailable", unifiedRemedy)
	}

	if h.Unified != "" {
		missing := without(v2Wanted, h.Controllers)
		detail := e.path(filepath.Join(h.Unified, "cgroup.controllers")) + ": " + joinNames(h.Controllers)
		switch {
		case len(missing) == 0:
			e.add("v2 controllers", OK, detail, "")
		case h.Mode != cgroups.Unified:
			e.add("v2 controllers", OK, detail+" (the others are bound to v1 hierarchies, and a controller lives in one hierarchy only)", "")
		default:
			remedy := "use a kernel built with the controllers' CONFIG_ options"
			if slices.Contains(missing, "memory") {
				remedy = "boot with cgroup_enable=memory (the kernel disabled the memory controller)"
			}
			e.add("v2 controllers", Degraded, detail+" (missing "+joinNames(missing)+")", remedy)
		}
		self := h.SelfDir("")
		ddetail := fmt.Sprintf("hull's cgroup %s: %s: %s", h.Self, e.path(filepath.Join(self, "cgroup.controllers")), joinNames(h.Delegated))
		if h.Mode == cgroups.Unified {
			if missing := without(v2Wanted, h.Delegated); len(missing) == 0 {
				e.add("delegated", OK, ddetail, "")
			} else {
				parent := e.path(filepath.Dir(self))
				e.add("delegated", Degraded, ddetail+" (missing "+joinNames(missing)+")",
					fmt.Sprintf("echo '+%s' > %s/cgroup.subtree_control (under systemd: Delegate=yes in the unit that starts hull)", strings.Join(missing, " +"), parent))
			}
		}
	}
	if h.Mode != cgroups.Unified {
		var own []string
		for _, c := range v1Wanted {
			if p, ok := h.SelfV1[c]; ok {
				own = append(own, c+":"+p)
			}
		}
		if e.rootless() {
			e.add("own v1 cgroups", Degraded, "/proc/self/cgroup: "+joinNames(own)+"; v1 hierarchies are not delegated to unprivileged users, so rootless containers run without cgroup limits", unifiedRemedy)
		} else {
			e.add("own v1 cgroups", OK, "/proc/self/cgroup: "+joinNames(own)+"; hull creates containers' cgroups below these", "")
		}
		missing := without(v1Wanted, v1)
		if len(missing) == 0 {
			e.add("v1 controllers", OK, e.v1Mounts(h), "")
		} else {
			e.add("v1 controllers", Degraded, e.v1Mounts(h)+" (missing "+joinNames(missing)+")", unifiedRemedy)
		}
	}
}

// v1Mounts lists each v1 hierarchy's mount point with the controllers
// bound to it: "/sys/fs/cgroup/cpu,cpuacct (cpu cpuacct)".
func (e *evaluation) v1Mounts(h *cgroups.Host) string {
	byMount := map[string][]string{}
	for c, mp := range h.V1 {
		byMount[mp] = append(byMount[mp], c)
	}
	var parts []string
	for mp, cs := range byMount {
		sort.Strings(cs)
		parts = append(parts, e.path(mp)+" ("+strings.Join(cs, " ")+")")
	}
	sort.Strings(parts)
	return "mounted: " + strings.Join(parts, ", ")
}

// without returns the elements of want not in have.
func without(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

func (e *evaluation) features() {
	e.section = SectionFeatures
	p := e.probe
	var overlayRemedy string
	switch o := p.Overlay; {
	case o.Skipped != "":
		overlayRemedy = "run hull check as root to try it"
	case o.Errno == "ENODEV":
		overlayRemedy = "modprobe overlay (no overlay filesystem is registered)"
	case o.Errno == "EINVAL":
		overlayRemedy = "keep hull's state and $TMPDIR on ext4, xfs or btrfs: this filesystem cannot hold an overlay upper layer"
	case o.Errno == "EPERM" || o.Errno == "EACCES":
		overlayRemedy = "something above the kernel forbids mount(2) (the seccomp profile or LSM of the container hull runs in): run hull on the host, or in a privileged container"
	default:
		overlayRemedy = "dmesg | grep -i overlay tells why the kernel refused"
	}
	e.outcome("overlayfs", p.Overlay, Degraded, overlayRemedy+" (without overlayfs only unpacked bundles run, not images)")

	seccompRemedy := "dmesg tells why the kernel refused the filter"
	switch p.Seccomp.Errno {
	case "EINVAL":
		seccompRemedy = "use a kernel built with CONFIG_SECCOMP_FILTER"
	case "EACCES", "EPERM":
		seccompRemedy = "run hull where prctl(PR_SET_NO_NEW_PRIVS) and seccomp(2) are allowed (not under a seccomp profile that forbids them)"
	}
	seccompRemedy += " (containers whose config.json sets linux.seccomp fail without it)"
	sc := p.Seccomp
	if sc.OK && len(p.SeccompActions) > 0 {
		sc.Note += "; actions_avail: " + strings.Join(p.SeccompActions, " ")
	}
	e.outcome("seccomp", sc, Degraded, seccompRemedy)
	e.outcome("pidfd", p.Pidfd, Degraded, "upgrade to Linux 5.3 or newer: without pidfds hull falls back to racy pid-based signalling")

	idRemedy := "keep hull's state on a filesystem that supports idmapped mounts: ext4, xfs or btrfs (tmpfs from Linux 6.3)"
	if maj, min, ok := probe.ParseKernelVersion(p.Kernel); ok && (maj < 5 || maj == 5 && min < 12) {
		idRemedy = "upgrade to Linux 5.12 or newer"
	}
	if p.IDMapped.Skipped != "" {
		idRemedy = "run hull check as root to try it"
	}
	e.outcome("idmapped mounts", p.IDMapped, Degraded, idRemedy+" (without them user-namespaced containers need chowned copies of their images)")
}

// firmwareSetting is what the firmware setup calls the vendor's extension.
func firmwareSetting(in cpuid.Info) string {
	if in.AMDLike() {
		return "SVM Mode (AMD-V)"
	}
	return "Intel Virtualization Technology (VT-x)"
}

func vendorModule(in cpuid.Info) string {
	if in.AMDLike() {
		return "kvm_amd"
	}
	return "kvm_intel"
}

// nestedRemedy says how to expose the extension to a guest, for the
// hypervisor hull runs under.
func nestedRemedy(in cpuid.Info) string {
	switch in.HypervisorName() {
	case "Microsoft Hyper-V":
		return "on the Hyper-V host: Set-VMProcessor -VMName NAME -ExposeVirtualizationExtensions $true, with the VM off"
	case "VMware":
		return `enable "Expose hardware assisted virtualization to the guest OS" (vhv.enable = "TRUE") with the VM off`
	case "KVM", "KVM (with Hyper-V enlightenments)":
		return "on the KVM host: modprobe " + vendorModule(in) + " nested=1, and start this VM with -cpu host (libvirt: <cpu mode='host-passthrough'/>)"
	case "QEMU (TCG software emulation)":
		return "start this VM with -cpu max (or -cpu host under KVM), which exposes " + in.Extension()
	}
	return "ask the provider of this VM (" + in.HypervisorName() + ") for nested virtualization, or run hull on bare metal"
}

func (e *evaluation) cpu() {
	e.section = SectionCPU
	in := e.facts.cpu
	if !e.cpuidOK || in.Vendor == "" {
		e.add("cpu", Missing, "no CPUID instruction on this architecture: hull's VMM drives x86-64 VT-x and AMD-V only", "run micro-VMs on an x86-64 host", ForVMs)
		return
	}
	e.add("cpu", OK, fmt.Sprintf("CPUID 0: %q; family %#x model %#x stepping %d; %s", in.Vendor, in.Family, in.Model, in.Stepping, in.Brand), "")

	if in.Hypervisor {
		e.add("hypervisor", OK, fmt.Sprintf("CPUID 1 ECX bit 31 set, CPUID 0x40000000 = %q: hull runs in a VM of %s", in.HypervisorSignature, in.HypervisorName()), "")
	} else {
		e.add("hypervisor", OK, "CPUID 1 ECX bit 31 clear: bare metal", "")
	}

	ext := in.Extension()
	var bit string
	var present bool
	switch {
	case in.IntelLike():
		bit, present = "CPUID 1 ECX bit 5 (VMX)", in.VMX
	case in.AMDLike():
		bit, present = "CPUID 0x80000001 ECX bit 2 (SVM)", in.SVM
	default:
		e.add("extension", Missing, fmt.Sprintf("vendor %q: hull knows VT-x and AMD-V only", in.Vendor), "run micro-VMs on an Intel or AMD host", ForVMs)
		return
	}
	if !present {
		remedy := "enable " + firmwareSetting(in) + " in the firmware setup (some firmware hides it from CPUID when off); otherwise this CPU cannot run hardware VMs"
		detail := bit + ": clear: this CPU offers no " + ext
		if in.Hypervisor {
			remedy = nestedRemedy(in)
			detail = bit + ": clear: " + in.HypervisorName() + " does not pass " + ext + " to its guests"
		}
		e.add("extension", Missing, detail, remedy, ForVMs)
		return
	}
	detail := bit + ": set"
	if len(e.cpuFlags) > 0 {
		flag := map[bool]string{true: "vmx", false: "svm"}[in.IntelLike()]
		if e.cpuFlags[flag] {
			detail += "; /proc/cpuinfo lists " + flag
		} else {
			detail += "; /proc/cpuinfo omits " + flag + " (the kernel found it disabled)"
		}
	}
	e.add("extension", OK, ext+": "+detail, "")

	fw := e.firmware
	kvmWorks := e.facts.kvm.OpenErr == nil && e.facts.kvm.Present
	switch fw.State {
	case cpuid.FirmwareEnabled:
		e.add("firmware", OK, fw.Detail, "")
	case cpuid.FirmwareUnlocked:
		e.add("firmware", OK, fw.Detail+": "+vendorModule(in)+" locks it with VMX on when it loads", "")
	case cpuid.FirmwareDisabled:
		e.add("firmware", Missing, fw.Detail+": the firmware disabled "+ext,
			"enable "+firmwareSetting(in)+" in the firmware setup, then power the machine off and on", ForVMs)
	default:
		if kvmWorks {
			e.add("firmware", OK, fw.Detail+"; /dev/kvm works, so the firmware allows "+ext, "")
		} else {
			remedy := cpuid.MSRRemedy(fw.Err)
			if remedy == "" {
				remedy = "check that " + firmwareSetting(in) + " is enabled in the firmware setup"
			}
			e.add("firmware", Degraded, fw.Detail+": unknown whether the firmware allows "+ext, remedy)
		}
	}

	switch {
	case !e.ept.known:
		e.add("nested paging", Degraded, "EPT: unknown (IA32_VMX_PROCBASED_CTLS2 unreadable, kvm_intel not loaded)", "modprobe msr, then run hull check again as root")
	case e.ept.ok:
		e.add("nested paging", OK, map[bool]string{true: "NPT", false: "EPT"}[in.AMDLike()]+": "+e.ept.source+": set", "")
	default:
		e.add("nested paging", Degraded, e.ept.source+": clear: KVM falls back to shadow page tables, several times slower on page faults",
			"use a CPU (or a hypervisor configuration) with "+map[bool]string{true: "NPT", false: "EPT"}[in.AMDLike()])
	}
}

func (e *evaluation) kvm() {
	e.section = SectionKVM
	in := e.facts.cpu
	r := e.facts.kvm
	mod := vendorModule(in)
	m, loaded := e.modules[mod]
	_, core := e.modules["kvm"]
	hasExt := in.VMX || in.SVM
	switch {
	case loaded:
		e.add("module", OK, "/sys/module/"+mod+": loaded", "")
	case e.firmware.State == cpuid.FirmwareDisabled:
		e.add("module", Missing, "/sys/module/"+mod+": not loaded, and it refuses to load while the firmware disables "+in.Extension(),
			"first enable "+firmwareSetting(in)+" in the firmware setup (see virtualization/firmware), then modprobe "+mod, ForVMs)
	case !hasExt && in.Vendor != "":
		detail := "/sys/module/" + mod + ": not loaded, and it cannot load without " + in.Extension() + " in CPUID"
		if core {
			detail += " (kvm itself is present)"
		}
		e.add("module", Missing, detail, "first make "+in.Extension()+" visible (see virtualization/extension)", ForVMs)
	default:
		e.add("module", Missing, "/sys/module/"+mod+": not loaded", "modprobe "+mod, ForVMs)
	}

	if loaded {
		v, ok := m.params["nested"]
		switch {
		case !ok:
			e.add("nested", Degraded, "/sys/module/"+mod+"/parameters/nested: absent: this "+mod+" cannot offer nested virtualization",
				"use a kernel whose "+mod+" has the nested parameter (any Linux since 4.x)")
		case v == "1" || v == "Y":
			e.add("nested", OK, "/sys/module/"+mod+"/parameters/nested = "+v+": hull's guests may run KVM themselves", "")
		default:
			e.add("nested", Degraded, "/sys/module/"+mod+"/parameters/nested = "+v+": hull's guests cannot run KVM themselves",
				"modprobe -r "+mod+" && modprobe "+mod+" nested=1 (persist: options "+mod+" nested=1 in /etc/modprobe.d/kvm.conf)")
		}
	}

	dev := r.Device
	const name = "device"
	switch {
	case !r.Present:
		remedy := "modprobe " + mod
		if e.firmware.State == cpuid.FirmwareDisabled {
			remedy = "first enable " + firmwareSetting(in) + " in the firmware setup (see virtualization/firmware)"
		} else if !hasExt {
			remedy = "first make " + in.Extension() + " visible (see virtualization/extension)"
		} else if loaded {
			remedy = "mknod " + dev + " c 10 232 && chmod 660 " + dev + " (udev normally makes it)"
		}
		e.add(name, Missing, "stat("+dev+"): no such file: the kernel offers no KVM", remedy, ForVMs)
	case r.OpenErr != nil:
		remedy := "dmesg | grep -i kvm tells why the KVM device refused"
		switch {
		case errors.Is(r.OpenErr, fs.ErrPermission):
			remedy = "usermod -aG kvm $USER (then log in again), or run as root"
		case errors.Is(r.OpenErr, fs.ErrNotExist), strings.Contains(r.OpenErr.Error(), "no such device"):
			remedy = "modprobe " + mod
		}
		e.add(name, Missing, "open("+dev+", O_RDWR): "+r.OpenErr.Error(), remedy, ForVMs)
	case r.APIVersion != kvm.KVM_API_VERSION:
		e.add(name, Missing, fmt.Sprintf("open(%s): ok; KVM_GET_API_VERSION = %d, want %d", dev, r.APIVersion, kvm.KVM_API_VERSION),
			"use a Linux kernel from this century", ForVMs)
	default:
		e.add(name, OK, fmt.Sprintf("open(%s, O_RDWR): ok; KVM_GET_API_VERSION = %d", dev, r.APIVersion), "")
		for _, c := range r.Caps {
			detail := fmt.Sprintf("KVM_CHECK_EXTENSION(%s) = %d: %s", c.Name, c.Value, c.Why)
			switch {
			case c.Value != 0:
				e.add(c.Name, OK, detail, "")
			case c.Required:
				e.add(c.Name, Missing, detail, "use a kernel whose KVM offers "+c.Name+" (Debian 12's 6.1 does)", ForVMs)
			default:
				e.add(c.Name, Degraded, detail, "use a kernel whose KVM offers "+c.Name+" (Debian 12's 6.1 does)")
			}
		}
	}
}
