package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Filter is a compiled seccomp program, ready to Load.
type Filter struct {
	prog   []unix.SockFilter
	flags  uint // SECCOMP_FILTER_FLAG_* the spec asked for
	notify bool // the program can return SECCOMP_RET_USER_NOTIF
	arches []specs.Arch
	header []string // teaching notes printed above the program

	// What String needs to generate the program again with comments.
	plan       []*archRules
	defaultRet uint32
}

// Instructions returns the program, as seccomp(2) takes it.
func (f *Filter) Instructions() []unix.SockFilter { return slices.Clone(f.prog) }

// Flags returns the SECCOMP_FILTER_FLAG_* bits from linux.seccomp.flags.
// Load adds SECCOMP_FILTER_FLAG_TSYNC and, when the filter notifies,
// SECCOMP_FILTER_FLAG_NEW_LISTENER|SECCOMP_FILTER_FLAG_TSYNC_ESRCH.
func (f *Filter) Flags() uint { return f.flags }

// Notifies reports whether the filter can return SECCOMP_RET_USER_NOTIF,
// so that Load returns a listener fd the runtime must send to
// linux.seccomp.listenerPath.
func (f *Filter) Notifies() bool { return f.notify }

// Architectures returns the architectures the filter has rules for, the
// native one first.
func (f *Filter) Architectures() []specs.Arch { return slices.Clone(f.arches) }

// cond is one argument comparison of a rule.
type cond struct {
	arg           uint
	op            specs.LinuxSeccompOperator
	value, value2 uint64
}

// rule is one alternative for a system call: if all conds hold, return action.
type rule struct {
	conds  []cond
	action uint32
	field  string // linux.seccomp.syscalls[i], for errors
}

// sysRules is everything the filter does for one system call on one
// architecture: the first rule whose conditions hold wins; an
// unconditional rule, if any, is last.
type sysRules struct {
	name  string
	rules []rule
}

func (s *sysRules) unconditional() (uint32, bool) {
	if len(s.rules) > 0 && len(s.rules[len(s.rules)-1].conds) == 0 {
		return s.rules[len(s.rules)-1].action, true
	}
	return 0, false
}

// archRules is the compiler's plan for one architecture.
type archRules struct {
	arch  *arch
	calls map[uint32]*sysRules
	maxNr uint32 // highest number the profile names on this arch
	anyNr bool
}

// Compile validates s and compiles it into a seccomp program. Every problem
// is reported with the field it is in, joined with errors.Join.
//
// The semantics follow runc with libseccomp, which is what profiles are
// written against:
//   - the native architecture is always filtered; other architectures listed
//     in linux.seccomp.architectures get their own block; a system call from
//     any other architecture kills the thread (libseccomp's default
//     "bad architecture" action, SCMP_ACT_KILL);
//   - a name the filter's architectures lack (arch_prctl on AArch64) is
//     skipped; a name no Linux architecture has is an error;
//   - a rule whose action equals the default action is skipped;
//   - several conditions of one rule are ANDed, unless two of them test the
//     same argument: then each condition becomes a rule of its own (ORed),
//     as runc does;
//   - for one system call, the first rule whose conditions hold wins, and an
//     unconditional rule overrides conditional ones; of two unconditional
//     rules the first stays (String notes a conflicting second one);
//   - errnoRet defaults to EPERM for SCMP_ACT_ERRNO and SCMP_ACT_TRACE;
//   - unless the default action lets calls through (ALLOW, LOG, TRACE) or
//     already returns ENOSYS, a call numbered above every call the profile
//     names for an architecture returns ENOSYS, so that programs fall back
//     from system calls newer than the profile (runc's -ENOSYS stub).
//
// linux.seccomp.listenerPath and listenerMetadata are the runtime's: it
// sends the fd Load returns there (see Filter.Notifies).
func Compile(s *specs.LinuxSeccomp) (*Filter, error) {
	if s == nil {
		return nil, errors.New("linux.seccomp: missing")
	}
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("linux.seccomp.%s: %s", field, fmt.Sprintf(format, args...)))
	}

	defaultRet, err := actionRet(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		fail("defaultAction", "%v", err)
	}

	f := &Filter{}

	// Architectures: the native one, then the listed ones.
	native := lookupArch(NativeArch())
	var plan []*archRules
	addArch := func(a *arch) {
		for _, p := range plan {
			if p.arch == a {
				return
			}
		}
		plan = append(plan, &archRules{arch: a, calls: map[uint32]*sysRules{}})
		f.arches = append(f.arches, a.name)
	}
	if native != nil {
		addArch(native)
	}
	for i, name := range s.Architectures {
		a := lookupArch(name)
		switch {
		case a != nil:
			addArch(a)
		case isSpecArch(name):
			fail(fmt.Sprintf("architectures[%d]", i), "no system call table for %s (hull has tables for %s)", name, archList(Arches()))
		default:
			fail(fmt.Sprintf("architectures[%d]", i), "unknown architecture %q", name)
		}
	}

	for i, fl := range s.Flags {
		bit, ok := filterFlags[fl]
		if !ok {
			fail(fmt.Sprintf("flags[%d]", i), "unknown flag %q", fl)
			continue
		}
		f.flags |= bit
	}

	for i, sc := range s.Syscalls {
		field := fmt.Sprintf("syscalls[%d]", i)
		ret, err := actionRet(sc.Action, sc.ErrnoRet)
		if err != nil {
			fail(field+".action", "%v", err)
			continue
		}
		if len(sc.Names) == 0 {
			fail(field+".names", "no system call names")
		}
		rules, ok := conditions(sc.Args, field+".args", fail, func(n string) { f.header = append(f.header, n) })
		if !ok {
			continue
		}
		for j, name := range sc.Names {
			nfield := func() string { return fmt.Sprintf("%s.names[%d]", field, j) }
			if name == "" {
				fail(nfield(), "empty system call name")
				continue
			}
			found := false
			for _, p := range plan {
				nr, ok := p.arch.lookup(name)
				if !ok {
					continue
				}
				found = true
				if !p.anyNr || nr > p.maxNr {
					p.maxNr, p.anyNr = nr, true
				}
				if ret == defaultRet {
					continue // runc skips rules that repeat the default
				}
				if err := p.add(name, nr, rules, ret, field); err != nil {
					f.header = append(f.header, fmt.Sprintf("%s: %v", nfield(), err))
				}
			}
			if !found {
				if len(plan) > 0 && !knownName(name) {
					fail(nfield(), "unknown syscall %q for %s", name, archList(f.arches))
				} else if len(plan) > 0 {
					f.header = append(f.header, fmt.Sprintf("skipped %s %q: not a system call of %s", nfield(), name, archList(f.arches)))
				}
			}
		}
	}
	if native == nil {
		errs = append(errs, fmt.Errorf("linux.seccomp: hull has no system call table for this machine's architecture"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	f.header = append([]string{
		fmt.Sprintf("default action %s; calls from other architectures: %s", retString(defaultRet), retString(badArchRet)),
		"architectures " + archList(f.arches),
	}, f.header...)
	if f.flags != 0 {
		f.header = append(f.header, "flags "+flagString(f.flags))
	}
	if wantsENOSYS(defaultRet) {
		f.header = append(f.header, "calls numbered above the profile's highest return ENOSYS (runc's stub for calls newer than the profile)")
	}
	f.plan, f.defaultRet = plan, defaultRet
	f.prog, _, f.notify, err = generate(plan, defaultRet, false)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	if f.flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 && !f.notify {
		return nil, errors.New("linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a rule with SCMP_ACT_NOTIFY")
	}
	return f, nil
}

// filterFlags maps linux.seccomp.flags to seccomp(2) flags.
var filterFlags = map[specs.LinuxSeccompFlag]uint{
	"SECCOMP_FILTER_FLAG_TSYNC":            unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

// add records rules for system call nr.
func (p *archRules) add(name string, nr uint32, rules []rule, ret uint32, field string) error {
	s := p.calls[nr]
	if s == nil {
		s = &sysRules{name: name}
		p.calls[nr] = s
	}
	if old, ok := s.unconditional(); ok {
		// As libseccomp: the first unconditional rule stays, later
		// rules for the call are dropped, silently unless they disagree.
		if len(rules) == 0 && old != ret {
			prev := s.rules[len(s.rules)-1].field
			return fmt.Errorf("%q already has action %s from %s on %s: %s ignored", name, retString(old), prev, p.arch.name, retString(ret))
		}
		return nil
	}
	if len(rules) == 0 {
		// Like libseccomp: the unconditional rule replaces conditional ones.
		s.rules = []rule{{action: ret, field: field}}
		return nil
	}
	for _, r := range rules {
		r.action, r.field = ret, field
		s.rules = append(s.rules, r)
	}
	return nil
}

// conditions validates a rule's args and returns the rules they make: one
// ANDing them all, or, if an argument is tested twice, one per condition.
// Problems are reported through fail with the field path below field.
func conditions(args []specs.LinuxSeccompArg, field string, fail func(field, format string, args ...any), note func(string)) ([]rule, bool) {
	if len(args) == 0 {
		return nil, true
	}
	ok := true
	conds := make([]cond, 0, len(args))
	seen := map[uint]bool{}
	repeated := false
	for i, a := range args {
		if a.Index > 5 {
			fail(fmt.Sprintf("%s[%d].index", field, i), "%d is not an argument (system calls have arguments 0 to 5)", a.Index)
			ok = false
		}
		switch a.Op {
		case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
			specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
		default:
			fail(fmt.Sprintf("%s[%d].op", field, i), "unknown operator %q", a.Op)
			ok = false
		}
		if a.Op == specs.OpMaskedEqual && a.ValueTwo&^a.Value != 0 {
			note(fmt.Sprintf("%s[%d]: args & %#x can never equal %#x: the rule never matches", field, i, a.Value, a.ValueTwo))
		}
		if seen[a.Index] {
			repeated = true
		}
		seen[a.Index] = true
		conds = append(conds, cond{arg: a.Index, op: a.Op, value: a.Value, value2: a.ValueTwo})
	}
	if !ok {
		return nil, false
	}
	if !repeated {
		return []rule{{conds: conds}}, true
	}
	rules := make([]rule, len(conds))
	for i, c := range conds {
		rules[i] = rule{conds: []cond{c}}
	}
	return rules, true
}

// actionRet converts an OCI action to the filter's return value.
func actionRet(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := func(def, max uint) (uint32, error) {
		if errnoRet == nil {
			return uint32(def), nil
		}
		if *errnoRet > max {
			return 0, fmt.Errorf("errnoRet %d of %s is larger than %d", *errnoRet, act, max)
		}
		return uint32(*errnoRet), nil
	}
	noData := func(ret uint32) (uint32, error) {
		if errnoRet != nil {
			return 0, fmt.Errorf("errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %s", act)
		}
		return ret, nil
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return noData(unix.SECCOMP_RET_KILL_THREAD)
	case specs.ActKillProcess:
		return noData(unix.SECCOMP_RET_KILL_PROCESS)
	case specs.ActTrap:
		return noData(unix.SECCOMP_RET_TRAP)
	case specs.ActErrno:
		d, err := data(uint(unix.EPERM), MAX_ERRNO)
		return unix.SECCOMP_RET_ERRNO | d, err
	case specs.ActTrace:
		d, err := data(uint(unix.EPERM), SECCOMP_RET_DATA)
		return unix.SECCOMP_RET_TRACE | d, err
	case specs.ActAllow:
		return noData(unix.SECCOMP_RET_ALLOW)
	case specs.ActLog:
		return noData(unix.SECCOMP_RET_LOG)
	case specs.ActNotify:
		return noData(unix.SECCOMP_RET_USER_NOTIF)
	case "":
		return 0, errors.New("missing action")
	}
	return 0, fmt.Errorf("unknown action %q", act)
}

// letsThrough reports whether ret runs the system call (or hands it to a
// tracer that does), so that unknown calls need no ENOSYS.
func letsThrough(ret uint32) bool {
	switch ret & SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG, unix.SECCOMP_RET_TRACE:
		return true
	}
	return false
}

func isSpecArch(a specs.Arch) bool {
	switch a {
	case specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
		specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
		specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
		specs.ArchSH, specs.ArchSHEB:
		return true
	}
	return false
}

func archList(as []specs.Arch) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
