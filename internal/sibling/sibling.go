// Package sibling finds hull's companion programs (hull-init, hull-vmm,
// hull-engine, and hull itself from them), which are installed in the
// directory of the running executable.
package sibling

import (
	"os"
	"path/filepath"
)

// Path returns where the program name would be next to the running
// executable, or "" when the executable's path is unknown.
func Path(name string) string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(self), name)
}

// Find returns Path(name) when an executable regular file is there, and
// "" otherwise.
func Find(name string) string {
	p := Path(name)
	if p == "" {
		return ""
	}
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return ""
	}
	return p
}
