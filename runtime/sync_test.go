package runtime

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A message is read field by field: one with a field this build does not
// know (an init or a hull from another build) is refused, naming the
// field, not read without it.
func TestReadSyncUnknownField(t *testing.T) {
	for _, tt := range []struct {
		msg, wantErr string
	}{
		{`{"type":"plan","plan":{"id":"c"}}`, ""},
		{`{"type":"plan","plan":{"id":"c","newStep":{}}}`, `unknown field "newStep"`},
		{`{"type":"ready","extra":1}`, `unknown field "extra"`},
		{`{"type":"plan","plan":{"id":"c","steps":[{"op":"hostname","args":{"name":"h"}}]}}`, ""},
		{`{"type":"plan","plan":{"id":"c","steps":[{"op":"hostname","args":{"name":"h","flags":1}}]}}`, `step 1 (hostname): json: unknown field "flags"`},
		{`{"type":"plan","plan":{"id":"c","steps":[{"op":"hostname","args":{}},{"op":"teleport","args":{}}]}}`, `step 2: unknown op "teleport"`},
		{`{"type":"plan","plan":{"id":"c","steps":[{"op":"setsid"},{"op":"hostname","args":{"name":"h"}}]}}`, `step 1 (setsid): no args`},
		{`{"type":`, "malformed sync message"},
	} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
		if _, err := unix.Write(fds[0], []byte(tt.msg)); err != nil {
			t.Fatal(err)
		}
		_, err = readSync(b)
		a.Close()
		b.Close()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("readSync(%s) = %v", tt.msg, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "same build")):
			t.Errorf("readSync(%s) = %v, want an error with %q naming the build", tt.msg, err, tt.wantErr)
		}
	}
}
