package vmproc

import (
	"slices"
	"testing"
)

func TestEscapeFilter(t *testing.T) {
	for _, tt := range []struct {
		reads []string
		want  string
		quit  bool
	}{
		{[]string{"ls\n"}, "ls\n", false},
		{[]string{"a\x01x"}, "a", true},
		{[]string{"a\x01", "X"}, "a", true}, // the escape spans two reads
		{[]string{"\x01\x01b"}, "\x01b", false},
		{[]string{"\x01c"}, "c", false},
	} {
		var e EscapeFilter
		var got []byte
		quit := false
		for _, r := range tt.reads {
			out, q := e.Filter([]byte(r))
			got = append(got, out...)
			if q {
				quit = true
				break
			}
		}
		if string(got) != tt.want || quit != tt.quit {
			t.Errorf("Filter(%q) = %q, quit %v; want %q, %v", tt.reads, got, quit, tt.want, tt.quit)
		}
	}
}

// The VM process's environment turns off transparent huge pages
// for the Go heap, keeping what GODEBUG already says and the rest.
func TestVMProcessEnv(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=disablethp=1"}},
		{[]string{"GODEBUG=gctrace=1", "PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=gctrace=1,disablethp=1"}},
		{[]string{"GODEBUG=disablethp=0"}, []string{"GODEBUG=disablethp=0"}},
		{[]string{"GODEBUG="}, []string{"GODEBUG=disablethp=1"}},
	} {
		if got := Env(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Env(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
