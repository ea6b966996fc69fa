package seccomp

import (
	"fmt"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Program layout (one block per AUDIT_ARCH_* value):
//
//	    ld  [arch]
//	    jeq #AUDIT_ARCH_X86_64  → x86_64     one test per architecture
//	    jeq #AUDIT_ARCH_I386    → i386
//	    ret KILL_THREAD                      any other architecture
//	x86_64:
//	    ld  [nr]
//	    jge #X32_SYSCALL_BIT, else → amd64   x32 shares x86_64's AUDIT_ARCH
//	    jeq #-1                    → amd64   a tracer's skipped call
//	    <search tree over x32 numbers>
//	amd64:
//	    <search tree over x86_64 numbers>
//	i386:
//	    ld  [nr]
//	    <search tree over i386 numbers>
//
// A search tree splits the 32-bit number space into intervals with one
// outcome each: a run of calls with the same unconditional action (merged,
// so the 310 x86_64 calls docker's profile names make 66 intervals), one
// call with argument rules, the default action for calls the profile does
// not name, and ENOSYS above the highest named call. A balanced tree of
// "jge" picks the interval in about log2(intervals) comparisons, so a call
// costs ~7 jumps instead of a linear scan of hundreds.

// badArchRet is what a call from an architecture the filter does not cover
// gets: libseccomp's default bad-architecture action, which runc keeps.
const badArchRet = unix.SECCOMP_RET_KILL_THREAD

type outcome struct {
	ret  uint32    // when call == nil
	call *sysRules // argument rules
}

type interval struct {
	lo, hi  uint32 // inclusive
	out     outcome
	first   string // names of the first and last named call inside
	last    string
	firstNr uint32
	count   int
}

type gen struct {
	asm
	defaultRet uint32
	enosys     bool
	explain    bool // write comments, for String
	notify     bool // a ret returns SECCOMP_RET_USER_NOTIF
}

// note returns the comment f makes, when the program is generated for
// String; Compile skips them (most of its work otherwise).
func (g *gen) note(f func() string) string {
	if !g.explain {
		return ""
	}
	return f()
}

// generate writes the program for plan; with explain, every instruction
// gets a comment.
func generate(plan []*archRules, defaultRet uint32, explain bool) (prog []unix.SockFilter, comments []string, notify bool, err error) {
	g := &gen{defaultRet: defaultRet, explain: explain, enosys: wantsENOSYS(defaultRet)}

	// Group architectures by AUDIT_ARCH value, keeping the plan's order.
	var audits []uint32
	byAudit := map[uint32][]*archRules{}
	for _, p := range plan {
		if _, ok := byAudit[p.arch.audit]; !ok {
			audits = append(audits, p.arch.audit)
		}
		byAudit[p.arch.audit] = append(byAudit[p.arch.audit], p)
	}

	g.emit(opLdAbsW, seccompDataArch, "A = seccomp_data.arch")
	blocks := make([]label, len(audits))
	for i, au := range audits {
		blocks[i] = g.newLabel()
		g.jump(opJeqK, au, blocks[i], next, auditName(au))
	}
	g.ret(badArchRet, "architecture not in the filter: "+retString(badArchRet))

	for i, au := range audits {
		g.bind(blocks[i])
		g.emit(opLdAbsW, seccompDataNr, "A = seccomp_data.nr")
		if au != unix.AUDIT_ARCH_X86_64 {
			g.tree(byAudit[au][0])
			continue
		}
		var x86, x32 *archRules
		for _, p := range byAudit[au] {
			if p.arch.x32 {
				x32 = p
			} else {
				x86 = p
			}
		}
		// As libseccomp: numbers from X32_SYSCALL_BIT up are x32 calls,
		// except -1, which a tracer sets to skip a call (seccomp(2)
		// runs filters again after the tracer) and which must not kill.
		lx86 := g.newLabel()
		g.jump(opJgeK, X32_SYSCALL_BIT, next, lx86, "X32_SYSCALL_BIT set: an x32 call?")
		g.jump(opJeqK, 0xffffffff, lx86, next, "nr -1: a tracer skipping the call, treated as x86_64")
		if x32 != nil {
			g.tree(x32)
		} else {
			g.ret(badArchRet, "SCMP_ARCH_X32 not in the filter: "+retString(badArchRet))
		}
		g.bind(lx86)
		if x86 != nil {
			g.tree(x86)
		} else {
			g.ret(badArchRet, "SCMP_ARCH_X86_64 not in the filter: "+retString(badArchRet))
		}
	}

	prog, comments, err = g.assemble()
	return prog, comments, g.notify, err
}

// wantsENOSYS reports whether calls above the profile's highest get ENOSYS:
// unless the default lets calls through or already is ENOSYS (runc).
func wantsENOSYS(defaultRet uint32) bool {
	return !letsThrough(defaultRet) && defaultRet != unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)
}

// intervals cuts the number space of p into outcomes.
func (g *gen) intervals(p *archRules, enosys bool) []interval {
	nrs := make([]uint32, 0, len(p.calls))
	for nr := range p.calls {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)

	var out []interval
	add := func(iv interval) {
		if n := len(out); n > 0 && out[n-1].out.call == nil && iv.out.call == nil && out[n-1].out.ret == iv.out.ret {
			last := &out[n-1]
			last.hi = iv.hi
			if iv.count > 0 {
				if last.count == 0 {
					last.first, last.firstNr = iv.first, iv.firstNr
				}
				last.last = iv.last
				last.count += iv.count
			}
			return
		}
		out = append(out, iv)
	}
	var cur uint64
	if p.arch.x32 {
		cur = X32_SYSCALL_BIT // the block is entered only with the bit set
	}
	for _, nr := range nrs {
		if uint64(nr) > cur {
			add(interval{lo: uint32(cur), hi: nr - 1, out: outcome{ret: g.defaultRet}})
		}
		s := p.calls[nr]
		iv := interval{lo: nr, hi: nr, first: s.name, last: s.name, firstNr: nr, count: 1}
		if ret, ok := s.unconditional(); ok {
			iv.out.ret = ret
		} else {
			iv.out.call = s
		}
		add(iv)
		cur = uint64(nr) + 1
	}
	if enosys && p.anyNr && uint64(p.maxNr)+1 > cur {
		add(interval{lo: uint32(cur), hi: p.maxNr, out: outcome{ret: g.defaultRet}})
		cur = uint64(p.maxNr) + 1
	}
	if cur <= 0xffffffff {
		ret := g.defaultRet
		if enosys && p.anyNr {
			ret = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		}
		add(interval{lo: uint32(cur), hi: 0xffffffff, out: outcome{ret: ret}})
	}
	return out
}

func (g *gen) tree(p *archRules) {
	ivs := g.intervals(p, g.enosys)
	g.search(p.arch, ivs)
}

func (g *gen) search(a *arch, ivs []interval) {
	if len(ivs) == 1 {
		g.leaf(a, ivs[0])
		return
	}
	mid := len(ivs) / 2
	right := g.newLabel()
	iv := &ivs[mid]
	g.jump(opJgeK, iv.lo, right, next, g.note(func() string {
		if iv.count > 0 && iv.firstNr == iv.lo {
			return fmt.Sprintf("nr >= %s (%s)?", nrString(a, iv.lo), iv.first)
		}
		return fmt.Sprintf("nr >= %s?", nrString(a, iv.lo))
	}))
	g.search(a, ivs[:mid])
	g.bind(right)
	g.search(a, ivs[mid:])
}

func (g *gen) leaf(a *arch, iv interval) {
	if iv.out.call == nil {
		g.retAction(iv.out.ret, g.note(func() string {
			what := ""
			switch {
			case iv.count == 1:
				what = iv.first
			case iv.count > 1:
				what = fmt.Sprintf("%s…%s (%d calls)", iv.first, iv.last, iv.count)
			}
			return fmt.Sprintf("%s: %s", rangeString(a, iv, what), retString(iv.out.ret))
		}))
		return
	}
	s := iv.out.call
	for _, r := range s.rules {
		nextRule := g.newLabel()
		for _, c := range r.conds {
			g.cond(a, c, nextRule, s.name)
		}
		g.retAction(r.action, g.note(func() string {
			return fmt.Sprintf("%s(%s): %s", s.name, condString(r.conds), retString(r.action))
		}))
		g.bind(nextRule)
	}
	g.retAction(g.defaultRet, g.note(func() string {
		return fmt.Sprintf("%s, no rule matched: %s", s.name, retString(g.defaultRet))
	}))
}

func rangeString(a *arch, iv interval, what string) string {
	r := nrString(a, iv.lo)
	if iv.hi != iv.lo {
		r += "-" + nrString(a, iv.hi)
	}
	if what == "" {
		return "nr " + r + " (not in the profile)"
	}
	return "nr " + r + " " + what
}

func (g *gen) retAction(ret uint32, comment string) {
	if ret&SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_USER_NOTIF {
		g.notify = true
	}
	g.ret(ret, comment)
}

// cond emits the test of one 64-bit argument condition: classic BPF sees 32
// bits at a time, so the high word is compared first and decides unless it
// is equal, then the low word decides. A failed test jumps to fail.
func (g *gen) cond(a *arch, c cond, fail label, name string) {
	lo := uint32(seccompDataArgs + 8*c.arg)
	hi := lo + 4
	if a.bigEndian {
		lo, hi = hi, lo
	}
	vh, vl := uint32(c.value>>32), uint32(c.value)
	arg := c.arg
	ldHi := func() {
		g.emit(opLdAbsW, hi, g.note(func() string { return fmt.Sprintf("A = args[%d] high word", arg) }))
	}
	ldLo := func() {
		g.emit(opLdAbsW, lo, g.note(func() string { return fmt.Sprintf("A = args[%d] low word", arg) }))
	}
	what := func() string { return condString([]cond{c}) }
	pass := g.newLabel()
	switch c.op {
	case specs.OpEqualTo:
		ldHi()
		g.jump(opJeqK, vh, next, fail, "")
		ldLo()
		g.jump(opJeqK, vl, next, fail, g.note(what))
	case specs.OpNotEqual:
		ldHi()
		g.jump(opJeqK, vh, next, pass, "")
		ldLo()
		g.jump(opJeqK, vl, fail, next, g.note(what))
	case specs.OpGreaterThan:
		ldHi()
		g.jump(opJgtK, vh, pass, next, "")
		g.jump(opJeqK, vh, next, fail, "")
		ldLo()
		g.jump(opJgtK, vl, next, fail, g.note(what))
	case specs.OpGreaterEqual:
		ldHi()
		g.jump(opJgtK, vh, pass, next, "")
		g.jump(opJeqK, vh, next, fail, "")
		ldLo()
		g.jump(opJgeK, vl, next, fail, g.note(what))
	case specs.OpLessThan:
		ldHi()
		g.jump(opJgtK, vh, fail, next, "")
		g.jump(opJeqK, vh, next, pass, "")
		ldLo()
		g.jump(opJgeK, vl, fail, next, g.note(what))
	case specs.OpLessEqual:
		ldHi()
		g.jump(opJgtK, vh, fail, next, "")
		g.jump(opJeqK, vh, next, pass, "")
		ldLo()
		g.jump(opJgtK, vl, fail, next, g.note(what))
	case specs.OpMaskedEqual:
		mh, ml := vh, vl
		dh, dl := uint32(c.value2>>32), uint32(c.value2)
		switch {
		case mh == 0 && dh == 0:
			// The high word is masked out: nothing to test.
		case mh == 0 || dh&^mh != 0:
			g.ja(fail, "datum has bits outside the mask: never equal")
		default:
			ldHi()
			g.emit(opAndK, mh, "")
			g.jump(opJeqK, dh, next, fail, "")
		}
		ldLo()
		g.emit(opAndK, ml, "")
		g.jump(opJeqK, dl, next, fail, g.note(what))
	}
	g.bind(pass)
}

// nrString prints a system call number: x32 numbers in hex, to show the bit.
func nrString(a *arch, nr uint32) string {
	if a.x32 {
		return fmt.Sprintf("%#x", nr)
	}
	return fmt.Sprint(nr)
}
