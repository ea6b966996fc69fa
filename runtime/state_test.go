package runtime

import (
	"regexp"
	"strings"
	"testing"
)

// TestCheckID: hull takes the ids runc takes, ^[\w+\-.]+$ up to 1,024
// bytes, without "." and "..".
func TestCheckID(t *testing.T) {
	runc := regexp.MustCompile(`^[\w+\-.]+$`)
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"a", true},
		{"web-1.example_v2+x", true},
		{"ABC019", true},
		{"", false},
		{".", false},
		{"..", false},
		{"...", true},
		{"a/b", false},
		{"a b", false},
		{"é", false},
		{"a\x00", false},
		{strings.Repeat("x", 1024), true},
		{strings.Repeat("x", 1025), false},
	} {
		err := checkID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("checkID(%q) = %v, want ok %v", tc.id, err, tc.ok)
		}
		if want := runc.MatchString(tc.id) && tc.id != "." && tc.id != ".." && len(tc.id) <= 1024; want != tc.ok {
			t.Errorf("table: %q ok %v, runc's expression says %v", tc.id, tc.ok, want)
		}
	}
}
