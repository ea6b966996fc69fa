package cgroups

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The v1 devices controller (security/device_cgroup.c) does not run rule
// lists: it holds a state, a default (allow or deny) and a list of
// exceptions, and each write to devices.allow or devices.deny edits it:
//
//	"a ..."  to devices.allow   default allow, exceptions cleared (then the parent's copied)
//	"a ..."  to devices.deny    default deny, exceptions cleared
//	rule     in default deny    allow adds an exception (merging the access of
//	                            an identical one), deny takes access away from
//	                            the exception with exactly the same numbers
//	rule     in default allow   the same, mirrored: deny adds, allow takes away
//
// and an access is checked against the state:
//
//	default deny    allowed if ONE exception that covers the device has
//	                every access asked for (open O_RDWR asks for r and w)
//	default allow   denied if any exception that covers the device has
//	                any of the access asked for
//
// Writing the OCI rules in order would therefore not mean what they mean
// on v2, where, for each access, the last matching rule decides: a later
// "deny c 1:3 w" cannot take back part of an earlier "allow c 1:* rw"
// (removal matches exact numbers only), "allow c 1:3 r" and "allow c 1:*
// w" do not add up to an O_RDWR open of 1:3, and "a *:* r" resets
// everything. So, as runc does the other way round, hull emulates the
// controller: v1TargetState computes the state that answers every request
// exactly as the rule list does on v2 (or says why none can), and
// transition computes the writes that take the cgroup from the state that
// devices.list shows to that one.

// v1DevKey is an exception's device pattern; -1 is the wildcard.
type v1DevKey struct {
	typ          byte // 'c' or 'b'
	major, minor int64
}

func (k v1DevKey) covers(typ byte, major, minor int64) bool {
	return k.typ == typ && (k.major < 0 || k.major == major) && (k.minor < 0 || k.minor == minor)
}

func (k v1DevKey) String() string {
	s := deviceRule{typ: k.typ, major: k.major, minor: k.minor}.String()
	return strings.TrimSuffix(s, " ")
}

// v1DeviceState is what the v1 devices controller holds for one cgroup.
type v1DeviceState struct {
	defaultAllow bool
	// exceptions maps each pattern to its BPF_DEVCG_ACC_* bits.
	exceptions map[v1DevKey]uint32
	// unknown: the exceptions cannot be read. devices.list of a
	// default-allow cgroup shows only "a *:* rwm", whatever it denies.
	unknown bool
}

// parseDevicesList reads devices.list: "a *:* rwm" for a default-allow
// cgroup, otherwise its exceptions, one a line ("c 1:3 rwm", "b 8:* r").
func parseDevicesList(list string) (*v1DeviceState, error) {
	s := &v1DeviceState{exceptions: map[v1DevKey]uint32{}}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		r, err := parseV1Rule(line)
		if err != nil {
			return nil, fmt.Errorf("devices.list: %w", err)
		}
		if r.typ == 'a' {
			return &v1DeviceState{defaultAllow: true, unknown: true}, nil
		}
		s.exceptions[v1DevKey{r.typ, r.major, r.minor}] |= r.access
	}
	return s, nil
}

// parseV1Rule reads one rule in the v1 syntax, "c 1:3 rwm".
func parseV1Rule(s string) (deviceRule, error) {
	r := deviceRule{major: -1, minor: -1}
	f := strings.Fields(s)
	if len(f) != 3 || len(f[0]) != 1 || !strings.Contains("abc", f[0]) {
		return r, fmt.Errorf("%q is not a device rule", s)
	}
	r.typ = f[0][0]
	majmin := strings.SplitN(f[1], ":", 2)
	if len(majmin) != 2 {
		return r, fmt.Errorf("%q: no major:minor", s)
	}
	for i, dst := range []*int64{&r.major, &r.minor} {
		if majmin[i] == "*" {
			continue
		}
		n, err := strconv.ParseInt(majmin[i], 10, 32)
		if err != nil || n < 0 {
			return r, fmt.Errorf("%q: bad device number %q", s, majmin[i])
		}
		*dst = n
	}
	for _, c := range f[2] {
		switch c {
		case 'r':
			r.access |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			r.access |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			r.access |= unix.BPF_DEVCG_ACC_MKNOD
		default:
			return r, fmt.Errorf("%q: bad access %q", s, c)
		}
	}
	return r, nil
}

// write does to the state what the kernel does for a write of r to
// devices.allow (r.allow) or devices.deny. (A default-allow cgroup also
// copies its parent's exceptions; the parents hull meets allow all.)
func (s *v1DeviceState) write(r deviceRule) {
	if r.typ == 'a' {
		*s = v1DeviceState{defaultAllow: r.allow, exceptions: map[v1DevKey]uint32{}}
		return
	}
	k := v1DevKey{r.typ, r.major, r.minor}
	if r.allow != s.defaultAllow {
		s.exceptions[k] |= r.access
		return
	}
	if acc := s.exceptions[k] &^ r.access; acc != 0 {
		s.exceptions[k] = acc
	} else {
		delete(s.exceptions, k)
	}
}

// allows is the kernel's check of one open or mknod asking for access
// (a set of BPF_DEVCG_ACC_* bits).
func (s *v1DeviceState) allows(typ byte, major, minor int64, access uint32) bool {
	// The exceptions that cover a device are those with its numbers or
	// wildcards in their place: four patterns at most.
	for _, k := range [...]v1DevKey{{typ, major, minor}, {typ, major, -1}, {typ, -1, minor}, {typ, -1, -1}} {
		acc, ok := s.exceptions[k]
		if !ok {
			continue
		}
		if s.defaultAllow && acc&access != 0 {
			return false
		}
		if !s.defaultAllow && access&^acc == 0 {
			return true
		}
	}
	return s.defaultAllow
}

// rules lists the exceptions in a fixed order: by type, then numbers,
// wildcards first.
func (s *v1DeviceState) rules(allow bool) []deviceRule {
	var out []deviceRule
	for k, acc := range s.exceptions {
		out = append(out, deviceRule{allow: allow, typ: k.typ, major: k.major, minor: k.minor, access: acc})
	}
	slices.SortFunc(out, func(a, b deviceRule) int {
		return cmpKeys(v1DevKey{a.typ, a.major, a.minor}, v1DevKey{b.typ, b.major, b.minor})
	})
	return out
}

// cmpKeys orders patterns by type, then numbers, wildcards first.
func cmpKeys(a, b v1DevKey) int {
	if a.typ != b.typ {
		return int(a.typ) - int(b.typ)
	}
	if a.major != b.major {
		return int(a.major - b.major)
	}
	return int(a.minor - b.minor)
}

// transition returns the writes that take the cgroup from state s to
// state to. A change of default, or a source whose exceptions cannot be
// read (any default-allow one), starts with the disruptive "a *:* rwm"
// (which the kernel refuses with EINVAL once the cgroup has children).
// Otherwise both are default deny and only the differences are written,
// the access taken away first, so that the cgroup never allows more on
// the way than before or after.
func (s *v1DeviceState) transition(to *v1DeviceState) []deviceRule {
	var out []deviceRule
	from := s.exceptions
	if s.unknown || s.defaultAllow != to.defaultAllow {
		out = append(out, deviceRule{allow: to.defaultAllow, typ: 'a', major: -1, minor: -1, access: accessAll})
		from = nil
	}
	// An exception of a default-deny state allows, of a default-allow
	// state denies: writing the default's own verdict takes access away.
	old := &v1DeviceState{exceptions: from}
	for _, r := range old.rules(to.defaultAllow) {
		if drop := r.access &^ to.exceptions[v1DevKey{r.typ, r.major, r.minor}]; drop != 0 {
			r.access = drop
			out = append(out, r)
		}
	}
	for _, r := range to.rules(!to.defaultAllow) {
		if gain := r.access &^ from[v1DevKey{r.typ, r.major, r.minor}]; gain != 0 {
			r.access = gain
			out = append(out, r)
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A deviceClass is a set of devices that every rule of a list treats
// alike: a type, and for major and minor either one number some rule
// names or "any other" (rep is then a number no rule names).
type deviceClass struct {
	typ                    byte
	major, minor           int64 // representative numbers
	otherMajor, otherMinor bool
}

func (c deviceClass) key() v1DevKey {
	k := v1DevKey{c.typ, c.major, c.minor}
	if c.otherMajor {
		k.major = -1
	}
	if c.otherMinor {
		k.minor = -1
	}
	return k
}

func (c deviceClass) String() string {
	major, minor := strconv.FormatInt(c.major, 10), strconv.FormatInt(c.minor, 10)
	if c.otherMajor {
		major = "(other)"
	}
	if c.otherMinor {
		minor = "(other)"
	}
	return fmt.Sprintf("%c %s:%s", c.typ, major, minor)
}

// deviceClasses splits the device space into the classes of rules.
func deviceClasses(rules []deviceRule) []deviceClass {
	var out []deviceClass
	for _, typ := range []byte{'c', 'b'} {
		var majors, minors []int64
		for _, r := range rules {
			if r.typ != typ {
				continue
			}
			if r.major >= 0 && !slices.Contains(majors, r.major) {
				majors = append(majors, r.major)
			}
			if r.minor >= 0 && !slices.Contains(minors, r.minor) {
				minors = append(minors, r.minor)
			}
		}
		slices.Sort(majors)
		slices.Sort(minors)
		unnamed := func(ns []int64) int64 {
			var n int64
			for slices.Contains(ns, n) {
				n++
			}
			return n
		}
		oMaj, oMin := unnamed(majors), unnamed(minors)
		for _, ma := range append([]int64{-1}, majors...) {
			for _, mi := range append([]int64{-1}, minors...) {
				c := deviceClass{typ: typ, major: ma, minor: mi}
				if ma < 0 {
					c.major, c.otherMajor = oMaj, true
				}
				if mi < 0 {
					c.minor, c.otherMinor = oMin, true
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// allowedBits is, for one device, the accesses the rules allow one at a
// time (the v2 semantics).
func allowedBits(rules []deviceRule, typ byte, major, minor int64) uint32 {
	var bits uint32
	for _, b := range []uint32{unix.BPF_DEVCG_ACC_READ, unix.BPF_DEVCG_ACC_WRITE, unix.BPF_DEVCG_ACC_MKNOD} {
		if evalDeviceRules(rules, typ, major, minor, b) {
			bits |= b
		}
	}
	return bits
}

// v1TargetState computes the v1 state that answers every open and mknod
// (any combination of accesses) as the rule list does on cgroup v2. It
// tries a default-deny state first (what devices.list can show, so later
// updates write only differences), then a default-allow one. A list that
// neither can express, such as one that takes an access back from one
// device of a wildcard while other devices keep it, is an error naming
// the devices.
func v1TargetState(rules []deviceRule) (*v1DeviceState, error) {
	classes := deviceClasses(rules)
	s, errDeny := buildV1State(rules, classes, false)
	if errDeny == nil {
		return s, nil
	}
	s, errAllow := buildV1State(rules, classes, true)
	if errAllow == nil {
		return s, nil
	}
	return nil, fmt.Errorf("cgroup v1 cannot express this rule list, as its exceptions cannot single out a device from a wildcard: %w", errDeny)
}

func buildV1State(rules []deviceRule, classes []deviceClass, defaultAllow bool) (*v1DeviceState, error) {
	want := make([]uint32, len(classes))
	s := &v1DeviceState{defaultAllow: defaultAllow, exceptions: map[v1DevKey]uint32{}}
	for i, c := range classes {
		want[i] = allowedBits(rules, c.typ, c.major, c.minor)
		acc := want[i]
		if defaultAllow {
			acc = accessAll &^ acc
		}
		if acc != 0 {
			s.exceptions[c.key()] = acc
		}
	}
	// check reports whether the state answers class i right, for any
	// combination of accesses; wrong checks the classes a pattern covers
	// (a pattern without wildcards covers only its own), or all.
	check := func(i int) error {
		c := classes[i]
		for acc := uint32(1); acc <= accessAll; acc++ {
			if s.allows(c.typ, c.major, c.minor, acc) != (acc&^want[i] == 0) {
				return fmt.Errorf("the rules allow %s %q, but the exceptions that other devices need answer an access of %q wrongly", c,
					deviceRule{typ: 'a', access: want[i]}.accessString(), deviceRule{typ: 'a', access: acc}.accessString())
			}
		}
		return nil
	}
	index := make(map[v1DevKey]int, len(classes))
	for i, c := range classes {
		index[c.key()] = i
	}
	wrong := func(only *v1DevKey) error {
		if only != nil && only.major >= 0 && only.minor >= 0 {
			return check(index[*only])
		}
		for i, c := range classes {
			if only == nil || only.covers(c.typ, c.major, c.minor) {
				if err := check(i); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := wrong(nil); err != nil {
		return nil, err
	}
	// Drop what is redundant, the most specific patterns first.
	keys := make([]v1DevKey, 0, len(s.exceptions))
	for k := range s.exceptions {
		keys = append(keys, k)
	}
	wild := func(k v1DevKey) int { return boolInt(k.major < 0) + boolInt(k.minor < 0) }
	slices.SortFunc(keys, func(a, b v1DevKey) int {
		if d := wild(a) - wild(b); d != 0 {
			return d
		}
		return cmpKeys(a, b)
	})
	for _, k := range keys {
		acc := s.exceptions[k]
		delete(s.exceptions, k)
		if wrong(&k) != nil {
			s.exceptions[k] = acc
		}
	}
	return s, nil
}

// accessString spells a rule's access "rwm"-style.
func (r deviceRule) accessString() string {
	s := r.String()
	return s[strings.LastIndexByte(s, ' ')+1:]
}

// v1DeviceWrites computes the writes to devices.allow and devices.deny
// that take a cgroup whose devices.list reads current ("" when unknown)
// to the state that means what rules mean on v2 (nil: not known).
func v1DeviceWrites(rules []deviceRule, current *string) ([]Write, error) {
	to, err := v1TargetState(rules)
	if err != nil {
		return nil, err
	}
	from := &v1DeviceState{defaultAllow: true, unknown: true}
	if current != nil {
		if from, err = parseDevicesList(*current); err != nil {
			return nil, err
		}
	}
	var out []Write
	for _, r := range from.transition(to) {
		file := "devices.deny"
		if r.allow {
			file = "devices.allow"
		}
		out = append(out, Write{Hierarchy: "devices", File: file, Value: r.String(), Field: "linux.resources.devices"})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
