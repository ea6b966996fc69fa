package capability

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// Cap is a capability number, CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40).
type Cap int

// String returns the kernel's name ("CAP_SYS_ADMIN"), or "CAP_%d" for a
// number without one.
func (c Cap) String() string {
	if c >= 0 && int(c) < len(names) && names[c] != "" {
		return names[c]
	}
	return fmt.Sprintf("CAP_%d", int(c))
}

// ParseCap returns the capability named name, in the kernel's spelling
// ("CAP_NET_ADMIN"; the OCI spec uses it too).
func ParseCap(name string) (Cap, error) {
	for i, n := range names {
		if n == name {
			return Cap(i), nil
		}
	}
	if strings.HasPrefix(strings.ToUpper(name), "CAP_") && !strings.HasPrefix(name, "CAP_") {
		return 0, fmt.Errorf("unknown capability %q (capabilities are spelled in capitals, like %q)", name, strings.ToUpper(name))
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

// Set is a capability set: bit n is capability n, as in the kernel's
// kernel_cap_t and /proc/<pid>/status.
type Set uint64

// Of returns the set holding caps.
func Of(caps ...Cap) Set {
	var s Set
	for _, c := range caps {
		s |= 1 << uint(c)
	}
	return s
}

// Has reports whether c is in s.
func (s Set) Has(c Cap) bool { return c >= 0 && c < 64 && s&(1<<uint(c)) != 0 }

// Caps lists the capabilities in s, lowest first.
func (s Set) Caps() []Cap {
	out := make([]Cap, 0, bits.OnesCount64(uint64(s)))
	for v := uint64(s); v != 0; v &= v - 1 {
		out = append(out, Cap(bits.TrailingZeros64(v)))
	}
	return out
}

// String prints the set as flags, "CAP_CHOWN|CAP_KILL", bits without a
// name in hex ("CAP_CHOWN|0x8000000000000000"), and the empty set as "0".
func (s Set) String() string {
	if s == 0 {
		return "0"
	}
	var b strings.Builder
	var unknown Set
	for _, c := range s.Caps() {
		if c > maxKnown {
			unknown |= Of(c)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(c.String())
	}
	if unknown != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		fmt.Fprintf(&b, "%#x", uint64(unknown))
	}
	return b.String()
}

// Parse returns the set of the named capabilities. Every unknown name is
// reported, with its index: `[2]: unknown capability "CAP_FOO"`.
func Parse(names []string) (Set, error) {
	var s Set
	var errs []error
	for i, n := range names {
		c, err := ParseCap(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
			continue
		}
		s |= Of(c)
	}
	return s, errors.Join(errs...)
}
