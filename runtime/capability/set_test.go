package capability

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestNames(t *testing.T) {
	if len(names) != int(maxKnown)+1 {
		t.Fatalf("names has %d entries, want %d (CAP_CHOWN..CAP_LAST_CAP)", len(names), maxKnown+1)
	}
	for i, n := range names {
		if n == "" {
			t.Errorf("capability %d has no name", i)
		}
		if c, err := ParseCap(n); err != nil || int(c) != i {
			t.Errorf("ParseCap(%q) = %d, %v, want %d", n, c, err, i)
		}
	}
	if names[40] != "CAP_CHECKPOINT_RESTORE" || names[21] != "CAP_SYS_ADMIN" {
		t.Errorf("names[40], names[21] = %s, %s", names[40], names[21])
	}
}

func TestSetString(t *testing.T) {
	tests := []struct {
		set  Set
		want string
	}{
		{0, "0"},
		{Of(unix.CAP_CHOWN), "CAP_CHOWN"},
		{Of(unix.CAP_KILL, unix.CAP_CHOWN), "CAP_CHOWN|CAP_KILL"},
		{Of(unix.CAP_SYS_ADMIN, unix.CAP_CHECKPOINT_RESTORE), "CAP_SYS_ADMIN|CAP_CHECKPOINT_RESTORE"},
		{Of(unix.CAP_CHOWN, 41, 63), "CAP_CHOWN|0x8000020000000000"},
		{Of(50), "0x4000000000000"},
	}
	for _, tt := range tests {
		if got := tt.set.String(); got != tt.want {
			t.Errorf("Set(%#x).String() = %q, want %q", uint64(tt.set), got, tt.want)
		}
	}
	if got := Cap(45).String(); got != "CAP_45" {
		t.Errorf("Cap(45).String() = %q", got)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		names []string
		want  Set
		err   string
	}{
		{nil, 0, ""},
		{[]string{"CAP_CHOWN", "CAP_NET_RAW", "CAP_CHOWN"}, Of(unix.CAP_CHOWN, unix.CAP_NET_RAW), ""},
		{[]string{"CAP_BPF", "CAP_CHECKPOINT_RESTORE"}, Of(39, 40), ""},
		{[]string{"CAP_CHOWN", "CAP_FOO"}, 0, `[1]: unknown capability "CAP_FOO"`},
		{[]string{"cap_chown"}, 0, `[0]: unknown capability "cap_chown" (capabilities are spelled in capitals, like "CAP_CHOWN")`},
		{[]string{"CHOWN"}, 0, `[0]: unknown capability "CHOWN"`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.names)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) error = %v, want %q", tt.names, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v, want %v", tt.names, got, err, tt.want)
		}
	}
}

func TestFromSpecErrors(t *testing.T) {
	_, err := FromSpec(&specs.LinuxCapabilities{
		Bounding: []string{"CAP_CHOWN", "CAP_NOPE"},
		Ambient:  []string{"CAP_KILL", "CAP_A", "CAP_B"},
	})
	if err == nil {
		t.Fatal("FromSpec accepted unknown capabilities")
	}
	for _, want := range []string{
		`process.capabilities.bounding[1]: unknown capability "CAP_NOPE"`,
		`process.capabilities.ambient[1]: unknown capability "CAP_A"`,
		`process.capabilities.ambient[2]: unknown capability "CAP_B"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("FromSpec error %q lacks %q", err, want)
		}
	}
}

func TestLast(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skip(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if Last() != Cap(n) {
		t.Errorf("Last() = %d, want %d", Last(), n)
	}
	if All() != Set(1)<<(n+1)-1 {
		t.Errorf("All() = %#x", uint64(All()))
	}
}

func TestParseStatus(t *testing.T) {
	st, err := ParseStatus(strings.NewReader("Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000400\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := State{Bounding: 1<<41 - 1, Effective: 1<<41 - 1, Permitted: 1<<41 - 1, Ambient: Of(unix.CAP_NET_BIND_SERVICE)}
	if st != want {
		t.Errorf("ParseStatus = %+v, want %+v", st, want)
	}
	if _, err := ParseStatus(strings.NewReader("CapInh:\t0\n")); err == nil {
		t.Error("ParseStatus accepted a status without all five sets")
	}
}
