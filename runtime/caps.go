package runtime

import "github.com/hullrt/hull/runtime/capability"

// capabilityNumber maps "CAP_SYS_ADMIN" to its number, through
// runtime/capability, for validation.
func capabilityNumber(name string) (int, bool) {
	c, err := capability.ParseCap(name)
	return int(c), err == nil
}

// allCapabilities lists every capability name hull knows, for features.
func allCapabilities() []string {
	var out []string
	for c := capability.Cap(0); c < 64; c++ {
		if _, err := capability.ParseCap(c.String()); err == nil {
			out = append(out, c.String())
		}
	}
	return out
}
