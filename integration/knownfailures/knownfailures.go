// Package knownfailures reads the lists of known failures that hull's
// comparison tests keep beside them: what a peer (runc) passes and hull
// does not pass yet, each with its reason. A comparison test fails on any
// failure missing from its list and reports a listed one that passes, so a
// list only ever shrinks.
//
// The format is one "name: reason" per line; # starts a comment.
package knownfailures

import (
	"fmt"
	"os"
	"strings"
)

// Read returns the list at path, name → reason.
func Read(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	known := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		name, reason, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want \"name: reason\"", path, i+1)
		}
		known[strings.TrimSpace(name)] = strings.TrimSpace(reason)
	}
	return known, nil
}
