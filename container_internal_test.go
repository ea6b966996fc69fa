package hull

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRestart(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    restartPolicy
		wantErr bool
	}{
		{"", restartPolicy{name: "no"}, false},
		{"no", restartPolicy{name: "no"}, false},
		{"always", restartPolicy{name: "always"}, false},
		{"unless-stopped", restartPolicy{name: "unless-stopped"}, false},
		{"on-failure", restartPolicy{name: "on-failure"}, false},
		{"on-failure:3", restartPolicy{name: "on-failure", max: 3}, false},
		{"on-failure:x", restartPolicy{}, true},
		{"always:2", restartPolicy{}, true},
		{"sometimes", restartPolicy{}, true},
	} {
		got, err := parseRestart(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("parseRestart(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestRestartAgain(t *testing.T) {
	for _, tc := range []struct {
		policy         string
		code, restarts int
		want           bool
	}{
		{"no", 1, 0, false},
		{"always", 0, 10, true},
		{"on-failure", 0, 0, false},
		{"on-failure", 1, 100, true},
		{"on-failure:2", 1, 1, true},
		{"on-failure:2", 1, 2, false},
	} {
		p, _ := parseRestart(tc.policy)
		if got := p.again(tc.code, tc.restarts); got != tc.want {
			t.Errorf("%s.again(code %d, after %d) = %v, want %v", tc.policy, tc.code, tc.restarts, got, tc.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3", "PATH=/usr/bin"})
	want := []string{"PATH=/usr/bin", "A=2", "B=3"}
	if !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestCapabilities(t *testing.T) {
	base := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}
	for _, tc := range []struct {
		name string
		cfg  ContainerConfig
		want string // joined, or the error's text
	}{
		{"default", ContainerConfig{}, "CAP_CHOWN CAP_KILL CAP_NET_RAW"},
		{"drop one", ContainerConfig{CapDrop: []string{"net_raw"}}, "CAP_CHOWN CAP_KILL"},
		{"drop all, add one", ContainerConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"CAP_SYS_ADMIN"}}, "CAP_SYS_ADMIN"},
		{"unknown", ContainerConfig{CapAdd: []string{"fly"}}, "capAdd[0]"},
	} {
		caps, err := capabilities(base, tc.cfg)
		got := strings.Join(caps, " ")
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) || (err == nil && got != tc.want) {
			t.Errorf("%s: capabilities = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseVolumes(t *testing.T) {
	dir := t.TempDir()
	m, uses, err := parseVolumes([]string{dir + "/a:/a", dir + "/b:/b:ro", "data:/data:ro,nocopy", "/anon"})
	if err != nil || len(m) != 4 || !slices.Contains(m[1].Options, "ro") || slices.Contains(m[0].Options, "ro") || !slices.Contains(m[2].Options, "ro") {
		t.Fatalf("parseVolumes = %+v, %v", m, err)
	}
	if len(uses) != 2 || uses[0].name != "data" || uses[0].copy || uses[0].mount != 2 || !uses[1].anonymous || uses[1].mount != 3 || uses[1].dest != "/anon" || len(uses[1].name) != 64 {
		t.Errorf("volumes used: %+v", uses)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err != nil {
		t.Errorf("the missing host directory was not made: %v", err)
	}
	_, _, err = parseVolumes([]string{"../rel:/x", "x", dir + ":/y:rx", "n:rel"})
	for _, want := range []string{"volumes[0]", "volumes[1]", "volumes[2]", "volumes[3]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseVolumes of four bad entries: %v, want %s named", err, want)
		}
	}
}

func TestSecurePath(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "real", "sub"), 0o755)
	os.Symlink("/real", filepath.Join(root, "abs"))
	os.Symlink("../../..", filepath.Join(root, "real", "up"))
	os.Symlink("loop", filepath.Join(root, "loop"))
	for _, tc := range []struct{ in, want string }{
		{"/real/sub", "/real/sub"},
		{"/abs/sub", "/real/sub"},
		{"/real/up/etc", "/etc"},
		{"/../../etc", "/etc"},
		{"/loop", "error"},
	} {
		got, err := securePath(root, tc.in)
		if err != nil {
			got = "error"
		} else {
			got = strings.TrimPrefix(got, root)
		}
		if got != tc.want {
			t.Errorf("securePath(root, %q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMountinfoHas(t *testing.T) {
	mi := "36 35 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 - ext3 /dev/root rw\n" +
		"37 35 98:0 / /plain rw - ext4 /dev/x rw\n"
	for target, want := range map[string]bool{"/mnt with space": true, "/plain": true, "/pla": false} {
		if got, err := mountinfoHas(strings.NewReader(mi), target); err != nil || got != want {
			t.Errorf("mountinfoHas(%q) = %v, %v; want %v", target, got, err, want)
		}
	}
}

func TestCtrLogRotation(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 5, time.UTC)
	// Records of 47 bytes: with 200 bytes at most, a rotation after
	// every fifth.
	for _, tc := range []struct {
		maxFiles int
		first    int // the first line kept
	}{{3, 0}, {2, 5}, {1, 10}} {
		path := filepath.Join(t.TempDir(), "ctr.log")
		l, err := openCtrLog(path, 200, tc.maxFiles)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if err := l.write("stdout", at.Add(time.Duration(i)*time.Second), []byte(fmt.Sprintf("line %d\n", i))); err != nil {
				t.Fatal(err)
			}
		}
		l.write("stderr", at, []byte("no newline"))
		l.Close()
		var got, want []string
		for _, name := range append(rotatedLogs(path), path) {
			b, _ := os.ReadFile(name)
			for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
				r, ok := parseRecord([]byte(line))
				if !ok {
					t.Fatalf("%s: %q is no record", name, line)
				}
				got = append(got, fmt.Sprintf("%s %s %v %s", r.time.Format(time.TimeOnly), r.stream, r.partial, r.content))
			}
		}
		for i := tc.first; i < 10; i++ {
			want = append(want, fmt.Sprintf("09:00:%02d stdout false line %d", i, i))
		}
		want = append(want, "09:00:00 stderr true no newline")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("max-file %d: records across %v:\n%s\nwant:\n%s", tc.maxFiles, rotatedLogs(path), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
