package cli

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want unix.Signal
		err  bool
	}{
		{"KILL", unix.SIGKILL, false},
		{"SIGTERM", unix.SIGTERM, false},
		{"sigusr1", unix.SIGUSR1, false},
		{"hup", unix.SIGHUP, false},
		{"9", unix.SIGKILL, false},
		{"64", unix.Signal(64), false},
		{"0", 0, true},
		{"65", 0, true},
		{"-1", 0, true},
		{"NOSUCH", 0, true},
		{"", 0, true},
	} {
		got, err := ParseSignal(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
