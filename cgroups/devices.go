package cgroups

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A deviceRule is one linux.resources.devices entry, checked and decoded.
type deviceRule struct {
	allow bool
	typ   byte  // 'a' (all), 'c' or 'b'
	major int64 // -1: any
	minor int64 // -1: any
	// access is a set of BPF_DEVCG_ACC_* bits: the kernel's own spelling
	// of "r", "w" and "m".
	access uint32
}

const accessAll = unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD

// String is the v1 devices.allow / devices.deny syntax: "c 1:3 rwm",
// "a *:* rwm".
func (r deviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	var acc strings.Builder
	for _, a := range []struct {
		bit uint32
		c   byte
	}{{unix.BPF_DEVCG_ACC_READ, 'r'}, {unix.BPF_DEVCG_ACC_WRITE, 'w'}, {unix.BPF_DEVCG_ACC_MKNOD, 'm'}} {
		if r.access&a.bit != 0 {
			acc.WriteByte(a.c)
		}
	}
	if r.typ == 'a' {
		return "a *:* " + acc.String()
	}
	return fmt.Sprintf("%c %s:%s %s", r.typ, num(r.major), num(r.minor), acc.String())
}

// parseDeviceRules checks linux.resources.devices. An empty type is "a"
// and an empty access is "rwm", as in the spec. A rule of type "a" covers
// every device whatever its numbers, as it does in cgroup v1.
func parseDeviceRules(in []specs.LinuxDeviceCgroup) ([]deviceRule, error) {
	var errs []error
	out := make([]deviceRule, 0, len(in))
	for i, d := range in {
		field := fmt.Sprintf("linux.resources.devices[%d]", i)
		r := deviceRule{allow: d.Allow, major: -1, minor: -1}
		switch d.Type {
		case "", "a":
			r.typ = 'a'
		case "c", "b":
			r.typ = d.Type[0]
		default:
			errs = append(errs, fmt.Errorf("%s.type: %q is not one of a, c, b", field, d.Type))
		}
		for _, n := range []struct {
			name string
			v    *int64
			dst  *int64
		}{{"major", d.Major, &r.major}, {"minor", d.Minor, &r.minor}} {
			if n.v == nil || *n.v == -1 {
				continue
			}
			if *n.v < 0 || *n.v > math.MaxInt32 {
				errs = append(errs, fmt.Errorf("%s.%s: %d is out of range", field, n.name, *n.v))
				continue
			}
			*n.dst = *n.v
		}
		if d.Access == "" {
			r.access = accessAll
		}
		for _, c := range d.Access {
			switch c {
			case 'r':
				r.access |= unix.BPF_DEVCG_ACC_READ
			case 'w':
				r.access |= unix.BPF_DEVCG_ACC_WRITE
			case 'm':
				r.access |= unix.BPF_DEVCG_ACC_MKNOD
			default:
				errs = append(errs, fmt.Errorf("%s.access: %q has %q, not one of r, w, m", field, d.Access, c))
			}
		}
		if r.typ == 'a' {
			r.major, r.minor = -1, -1
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// A DeviceFilter is linux.resources.devices compiled into an eBPF program
// of type BPF_PROG_TYPE_CGROUP_DEVICE, which cgroup v2 runs on every
// open(2) and mknod(2) of a device node by a process in the cgroup. The
// program returns 1 to allow, 0 to deny (EPERM).
//
// Semantics (runc's): for each access the request asks for (read, write,
// mknod), the last rule that names this device and that access decides;
// when none does, the access is allowed. A list that begins with the
// usual "deny all" rule ({"allow": false, "access": "rwm"}) therefore
// denies everything it does not later allow.
type DeviceFilter struct {
	Rules string // the rules in v1 syntax, one a line, for reading
	Insns []Insn
}

func (f *DeviceFilter) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bpf(BPF_PROG_LOAD, {prog_type: BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt: %d})\n", len(f.Insns))
	b.WriteString(Disassemble(f.Insns))
	b.WriteString("bpf(BPF_PROG_ATTACH, {attach_type: BPF_CGROUP_DEVICE, attach_flags: BPF_F_ALLOW_MULTI})\n")
	return b.String()
}

// compileDeviceFilter builds the program. Its shape, with the context
// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// in r1:
//
//	r2 = type (low 16 bits of access_type: BPF_DEVCG_DEV_*)
//	r3 = access (high 16 bits: BPF_DEVCG_ACC_*)
//	r4 = major, r5 = minor
//	for each access bit b in read, write, mknod:
//	    if r3 & b == 0: skip to the next bit
//	    for each rule with b, last first:
//	        if the rule matches r2/r4/r5: allow → next bit; deny → return 0
//	    (no rule matched: allowed)
//	return 1
//
// A rule that matches everything ends its chain: older rules are never
// reached.
func compileDeviceFilter(rules []deviceRule) *DeviceFilter {
	var a asm
	a.emit(ldxw(R2, R1, 0), "r2 = access_type")
	a.emit(and32(R2, 0xffff), "r2 = device type")
	a.emit(ldxw(R3, R1, 0), "")
	a.emit(rsh32(R3, 16), "r3 = requested access")
	a.emit(ldxw(R4, R1, 4), "r4 = major")
	a.emit(ldxw(R5, R1, 8), "r5 = minor")
	bits := []struct {
		bit  uint32
		name string
	}{{unix.BPF_DEVCG_ACC_READ, "read"}, {unix.BPF_DEVCG_ACC_WRITE, "write"}, {unix.BPF_DEVCG_ACC_MKNOD, "mknod"}}
	for bi, b := range bits {
		next := fmt.Sprintf("after_%s", b.name)
		a.emit(mov32reg(R0, R3), fmt.Sprintf("does the request ask for %s?", b.name))
		a.emit(and32(R0, int32(b.bit)), "")
		a.jump(jeqImm(R0, 0), next)
		for i := len(rules) - 1; i >= 0; i-- {
			r := rules[i]
			if r.access&b.bit == 0 {
				continue
			}
			skip := fmt.Sprintf("%s_rule%d_miss", b.name, i)
			first := true
			comment := func() string {
				if first {
					first = false
					return fmt.Sprintf("rule %d: %s %s", i, verdict(r.allow), r)
				}
				return ""
			}
			switch r.typ {
			case 'c':
				a.jump(jneImm(R2, unix.BPF_DEVCG_DEV_CHAR), skip, comment())
			case 'b':
				a.jump(jneImm(R2, unix.BPF_DEVCG_DEV_BLOCK), skip, comment())
			}
			if r.major >= 0 {
				a.jump(jneImm(R4, int32(r.major)), skip, comment())
			}
			if r.minor >= 0 {
				a.jump(jneImm(R5, int32(r.minor)), skip, comment())
			}
			if r.allow {
				a.jump(ja(), next, comment())
			} else {
				a.emit(mov32(R0, 0), comment())
				a.emit(exit(), "deny")
			}
			a.label(skip)
			if r.typ == 'a' {
				break // matches every device: older rules are unreachable
			}
		}
		a.label(next)
		_ = bi
	}
	a.emit(mov32(R0, 1), "")
	a.emit(exit(), "allow")
	var lines []string
	for i, r := range rules {
		lines = append(lines, fmt.Sprintf("rule %d: %s %s", i, verdict(r.allow), r))
	}
	return &DeviceFilter{Rules: strings.Join(lines, "\n"), Insns: a.assemble()}
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

// evalDeviceRules is the semantics written as plain Go: what the compiled
// program must answer for a request. Tests hold the program to it.
func evalDeviceRules(rules []deviceRule, typ byte, major, minor int64, access uint32) bool {
	for _, bit := range []uint32{unix.BPF_DEVCG_ACC_READ, unix.BPF_DEVCG_ACC_WRITE, unix.BPF_DEVCG_ACC_MKNOD} {
		if access&bit == 0 {
			continue
		}
		allowed := true
		for i := len(rules) - 1; i >= 0; i-- {
			r := rules[i]
			if r.access&bit == 0 {
				continue
			}
			if r.typ != 'a' && (r.typ != typ || r.major >= 0 && r.major != major || r.minor >= 0 && r.minor != minor) {
				continue
			}
			allowed = r.allow
			break
		}
		if !allowed {
			return false
		}
	}
	return true
}
