package runtime

import (
	"errors"
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// problems collects validation errors, each prefixed with its field path
// in config.json ("linux.namespaces[2].type").
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// Validate checks a spec for everything hull can know without touching
// the host, and reports every problem at once, each naming its field.
//
// It rejects values that are malformed (a relative mount destination) and
// values that hull does not implement (an AppArmor profile): a runtime
// that silently ignores a security setting is worse than one that
// refuses it. Resources are checked by the cgroups package and seccomp by
// runtime/seccomp when the plan is built.
func Validate(s *specs.Spec) error {
	var p problems
	validateVersion(&p, s.Version)
	if s.Root == nil || s.Root.Path == "" {
		p.add("root.path", "is required")
	}
	if s.Process == nil {
		p.add("process", "is required to create a container")
	} else {
		validateProcess(&p, "process", s.Process, true)
	}
	validateHooks(&p, s.Hooks)
	validateMounts(&p, s.Mounts)
	if s.Linux == nil {
		p.add("linux", "is required: hull runs Linux containers")
	} else {
		validateLinux(&p, s)
	}
	for _, plat := range []struct {
		name string
		set  bool
	}{{"solaris", s.Solaris != nil}, {"windows", s.Windows != nil}, {"vm", s.VM != nil}, {"zos", s.ZOS != nil}, {"freebsd", s.FreeBSD != nil}} {
		if plat.set {
			p.add(plat.name, "is for another platform; hull runs Linux containers")
		}
	}
	return errors.Join(p...)
}

func validateVersion(p *problems, v string) {
	if v == "" {
		p.add("ociVersion", "is required")
		return
	}
	if !strings.HasPrefix(v, "1.") {
		p.add("ociVersion", "%q is not a 1.x version of the runtime spec", v)
	}
}

// ValidateProcess checks a process.json as "hull exec --process" reads it.
func ValidateProcess(proc *specs.Process) error {
	var p problems
	validateProcess(&p, "process", proc, false)
	return errors.Join(p...)
}

func validateProcess(p *problems, f string, proc *specs.Process, init bool) {
	if len(proc.Args) == 0 {
		p.add(f+".args", "must name the program to run")
	}
	if proc.Cwd == "" {
		p.add(f+".cwd", "is required")
	} else if !path.IsAbs(proc.Cwd) {
		p.add(f+".cwd", "%q is not an absolute path", proc.Cwd)
	}
	for i, e := range proc.Env {
		if !strings.Contains(e, "=") {
			p.add(fmt.Sprintf("%s.env[%d]", f, i), "%q is not NAME=value", e)
		}
	}
	if proc.ConsoleSize != nil && !proc.Terminal {
		p.add(f+".consoleSize", "is set but process.terminal is false")
	}
	if proc.User.Username != "" {
		p.add(f+".user.username", "is a Windows field; use uid and gid")
	}
	seen := map[string]bool{}
	for i, r := range proc.Rlimits {
		rf := fmt.Sprintf("%s.rlimits[%d]", f, i)
		if _, ok := rlimitNumber[r.Type]; !ok {
			p.add(rf+".type", "unknown rlimit %q", r.Type)
		}
		if seen[r.Type] {
			p.add(rf+".type", "%s is given twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			p.add(rf, "soft limit %d exceeds hard limit %d", r.Soft, r.Hard)
		}
	}
	if c := proc.Capabilities; c != nil {
		for _, set := range []struct {
			name  string
			names []string
		}{{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable}, {"permitted", c.Permitted}, {"ambient", c.Ambient}} {
			for i, n := range set.names {
				if _, ok := capabilityNumber(n); !ok {
					p.add(fmt.Sprintf("%s.capabilities.%s[%d]", f, set.name, i), "unknown capability %q", n)
				}
			}
		}
	}
	if proc.OOMScoreAdj != nil && (*proc.OOMScoreAdj < -1000 || *proc.OOMScoreAdj > 1000) {
		p.add(f+".oomScoreAdj", "%d is outside -1000..1000", *proc.OOMScoreAdj)
	}
	if proc.ApparmorProfile != "" {
		p.add(f+".apparmorProfile", "AppArmor is not supported by hull yet")
	}
	if proc.SelinuxLabel != "" {
		p.add(f+".selinuxLabel", "SELinux is not supported by hull yet")
	}
	if io := proc.IOPriority; io != nil {
		if _, ok := ioprioClass[io.Class]; !ok {
			p.add(f+".ioPriority.class", "unknown class %q", io.Class)
		}
		if io.Priority < 0 || io.Priority > 7 {
			p.add(f+".ioPriority.priority", "%d is outside 0..7", io.Priority)
		}
	}
	if s := proc.Scheduler; s != nil {
		if _, ok := schedPolicy[s.Policy]; !ok {
			p.add(f+".scheduler.policy", "unknown policy %q", s.Policy)
		}
		for i, fl := range s.Flags {
			if _, ok := schedFlag[fl]; !ok {
				p.add(fmt.Sprintf("%s.scheduler.flags[%d]", f, i), "unknown flag %q", fl)
			}
		}
		if s.Nice < -20 || s.Nice > 19 {
			p.add(f+".scheduler.nice", "%d is outside -20..19", s.Nice)
		}
	}
	if proc.ExecCPUAffinity != nil {
		p.add(f+".execCPUAffinity", "is not supported by hull yet")
	}
	_ = init
}

var hookKinds = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}

func hookList(h *specs.Hooks, kind string) []specs.Hook {
	if h == nil {
		return nil
	}
	switch kind {
	case "prestart":
		//lint:ignore SA1019 prestart is deprecated, but still in the spec, and runc runs it
		return h.Prestart
	case "createRuntime":
		return h.CreateRuntime
	case "createContainer":
		return h.CreateContainer
	case "startContainer":
		return h.StartContainer
	case "poststart":
		return h.Poststart
	case "poststop":
		return h.Poststop
	}
	return nil
}

func validateHooks(p *problems, h *specs.Hooks) {
	for _, kind := range hookKinds {
		for i, hk := range hookList(h, kind) {
			f := fmt.Sprintf("hooks.%s[%d]", kind, i)
			if !path.IsAbs(hk.Path) {
				p.add(f+".path", "%q is not an absolute path", hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				p.add(f+".timeout", "%d is not a positive number of seconds", *hk.Timeout)
			}
		}
	}
}

func validateMounts(p *problems, mounts []specs.Mount) {
	for i, m := range mounts {
		f := fmt.Sprintf("mounts[%d]", i)
		if !path.IsAbs(m.Destination) {
			p.add(f+".destination", "%q is not an absolute path", m.Destination)
		}
		o := parseMountOptions(m.Options)
		bind := o.Flags&MountFlags(mountFlagOptions["bind"].flag) != 0 || m.Type == "bind"
		if m.Type == "" && !bind {
			p.add(f+".type", "is required for a mount that is not a bind mount")
		}
		if bind && m.Source == "" {
			p.add(f+".source", "is required for a bind mount")
		}
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 || o.IDMap {
			switch {
			case !bind:
				p.add(f, "idmapped mounts are supported for bind mounts only")
			case len(m.UIDMappings) == 0 || len(m.GIDMappings) == 0:
				p.add(f+".uidMappings", "an idmapped mount needs uidMappings and gidMappings")
			}
		}
		if o.TmpCopyUp && m.Type != "tmpfs" {
			p.add(f+".options", "tmpcopyup needs a tmpfs mount, not %q", m.Type)
		}
	}
}

func validateLinux(p *problems, s *specs.Spec) {
	l := s.Linux
	ns := map[specs.LinuxNamespaceType]bool{}
	for i, n := range l.Namespaces {
		f := fmt.Sprintf("linux.namespaces[%d]", i)
		if _, ok := nsFlag[n.Type]; !ok {
			p.add(f+".type", "unknown namespace %q", n.Type)
			continue
		}
		if _, dup := ns[n.Type]; dup {
			p.add(f+".type", "namespace %q is given twice", n.Type)
		}
		ns[n.Type] = n.Path == ""
		if n.Path != "" && !path.IsAbs(n.Path) {
			p.add(f+".path", "%q is not an absolute path", n.Path)
		}
	}
	newUser, hasUser := ns[specs.UserNamespace]
	if newUser && hasUser && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0) {
		p.add("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
	}
	if !hasUser && (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) {
		p.add("linux.uidMappings", "mappings are set but there is no user namespace")
	}
	// Without a mount namespace the container shares the host's: its
	// mounts are made there (below the rootfs, undone by delete) and it is
	// chrooted, not pivoted. What would change the host's own mounts needs
	// a namespace of its own, as in runc.
	if _, ok := ns[specs.MountNamespace]; !ok {
		if len(l.MaskedPaths) > 0 {
			p.add("linux.maskedPaths", "needs a mount namespace of the container's own (there is none: the masks would be made in the host's)")
		}
		if len(l.ReadonlyPaths) > 0 {
			p.add("linux.readonlyPaths", "needs a mount namespace of the container's own (there is none: the remounts would be made in the host's)")
		}
		if l.RootfsPropagation != "" {
			p.add("linux.rootfsPropagation", "needs a mount namespace of the container's own (there is none: it would change the host's \"/\")")
		}
	}
	_, hasUTS := ns[specs.UTSNamespace]
	if s.Hostname != "" && !hasUTS {
		p.add("hostname", "needs a new uts namespace (it would change the host's)")
	}
	if s.Domainname != "" && !hasUTS {
		p.add("domainname", "needs a new uts namespace (it would change the host's)")
	}
	if len(l.TimeOffsets) > 0 && !ns[specs.TimeNamespace] { // offsets only for a new one
		p.add("linux.timeOffsets", "needs a new time namespace")
	}
	for clock := range l.TimeOffsets {
		if clock != "monotonic" && clock != "boottime" {
			p.add("linux.timeOffsets."+clock, "unknown clock (want monotonic or boottime)")
		}
	}
	for k := range l.Sysctl {
		if err := sysctlNamespaced(k, ns); err != nil {
			p.add("linux.sysctl."+k, "%v", err)
		}
	}
	for i, d := range l.Devices {
		f := fmt.Sprintf("linux.devices[%d]", i)
		if !path.IsAbs(d.Path) {
			p.add(f+".path", "%q is not an absolute path", d.Path)
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			p.add(f+".type", "unknown device type %q (want c, u, b or p)", d.Type)
		}
	}
	for i, m := range l.MaskedPaths {
		if !path.IsAbs(m) {
			p.add(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q is not an absolute path", m)
		}
	}
	for i, m := range l.ReadonlyPaths {
		if !path.IsAbs(m) {
			p.add(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q is not an absolute path", m)
		}
	}
	if _, ok := rootfsPropagation[l.RootfsPropagation]; !ok {
		p.add("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	if per := l.Personality; per != nil {
		if per.Domain != "LINUX" && per.Domain != "LINUX32" {
			p.add("linux.personality.domain", "unknown domain %q (want LINUX or LINUX32)", per.Domain)
		}
		if len(per.Flags) > 0 {
			p.add("linux.personality.flags", "no personality flags are defined by the runtime spec")
		}
	}
	if l.MountLabel != "" {
		p.add("linux.mountLabel", "SELinux is not supported by hull yet")
	}
	if l.IntelRdt != nil {
		p.add("linux.intelRdt", "Intel RDT is not supported by hull yet")
	}
	if l.MemoryPolicy != nil {
		p.add("linux.memoryPolicy", "NUMA memory policy is not supported by hull yet")
	}
	if len(l.NetDevices) > 0 {
		p.add("linux.netDevices", "moving network devices is not supported by hull yet")
	}
}

// rootfsPropagation maps linux.rootfsPropagation to the flags hull gives
// "/" in the new mount namespace. Unset means rslave, as in runc: the host's
// new mounts still reach the container, but none leak back.
var rootfsPropagation = map[string]MountFlags{
	"":            MountFlags(propagationOptions["rslave"]),
	"private":     MountFlags(propagationOptions["private"]),
	"rprivate":    MountFlags(propagationOptions["rprivate"]),
	"slave":       MountFlags(propagationOptions["slave"]),
	"rslave":      MountFlags(propagationOptions["rslave"]),
	"shared":      MountFlags(propagationOptions["shared"]),
	"rshared":     MountFlags(propagationOptions["rshared"]),
	"unbindable":  MountFlags(propagationOptions["unbindable"]),
	"runbindable": MountFlags(propagationOptions["runbindable"]),
}

// sysctlNamespaced reports why a sysctl may not be set from inside the
// container: only keys that belong to one of the container's own new
// namespaces are safe to write (the rest change the host).
func sysctlNamespaced(key string, ns map[specs.LinuxNamespaceType]bool) error {
	need := func(t specs.LinuxNamespaceType) error {
		if _, ok := ns[t]; ok {
			return nil
		}
		return fmt.Errorf("belongs to the %s namespace, which the container does not own", t)
	}
	switch {
	case key == "kernel.msgmax", key == "kernel.msgmnb", key == "kernel.msgmni", key == "kernel.sem",
		key == "kernel.shmall", key == "kernel.shmmax", key == "kernel.shmmni", key == "kernel.shm_rmid_forced",
		strings.HasPrefix(key, "fs.mqueue."):
		return need(specs.IPCNamespace)
	case strings.HasPrefix(key, "net."):
		return need(specs.NetworkNamespace)
	case key == "kernel.hostname", key == "kernel.domainname":
		return need(specs.UTSNamespace)
	}
	return errors.New("is not namespaced: setting it would change the host")
}
