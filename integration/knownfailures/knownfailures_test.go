package knownfailures

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadKnownFailures(t *testing.T) {
	tests := []struct {
		name, text string
		want       map[string]string
		wantErr    bool
	}{
		{"empty", "# nothing yet\n\n", map[string]string{}, false},
		{"one", "podman/tty: console socket not sent # issue 4\n", map[string]string{"podman/tty": "console socket not sent"}, false},
		{"colon in reason", "containerd/run: exit code: wrong\n", map[string]string{"containerd/run": "exit code: wrong"}, false},
		{"no reason", "podman/run:\n", nil, true},
		{"no colon", "podman/run\n", nil, true},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "known.txt")
		if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: Read(%q) error = %v, want error %v", tt.name, tt.text, err, tt.wantErr)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: Read(%q) = %v, want %v", tt.name, tt.text, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: Read(%q)[%q] = %q, want %q", tt.name, tt.text, k, got[k], v)
			}
		}
	}
}
