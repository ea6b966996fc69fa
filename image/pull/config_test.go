package pull_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hullrt/hull/image/pull"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, body string
		want       *pull.Config
		wantErr    string
	}{
		{name: "missing.json", want: &pull.Config{}},
		{name: "full.json", body: `{"registries": {
			"docker.io": {"mirrors": ["mirror.example.com", "10.0.0.5:5000"]},
			"registry.lab:5000": {"plainHTTP": true},
			"10.0.0.5": {"caFile": "/etc/hull/lab-ca.pem", "insecure": false}}}`,
			want: &pull.Config{Registries: map[string]pull.Registry{
				"docker.io":         {Mirrors: []string{"mirror.example.com", "10.0.0.5:5000"}},
				"registry.lab:5000": {PlainHTTP: true},
				"10.0.0.5":          {CAFile: "/etc/hull/lab-ca.pem"},
			}}},
		{name: "typo.json", body: `{"registries": {"docker.io": {"mirror": ["m.example.com"]}}}`, wantErr: `unknown field "mirror"`},
		{name: "top.json", body: `{"registry": {}}`, wantErr: `unknown field "registry"`},
		{name: "type.json", body: `{"registries": {"docker.io": {"plainHTTP": "yes"}}}`, wantErr: "cannot unmarshal string"},
	} {
		p := filepath.Join(dir, tc.name)
		if tc.body != "" {
			p = write(tc.name, tc.body)
		}
		got, err := pull.LoadConfig(p)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p) {
				t.Errorf("LoadConfig(%q) = %v, want an error naming the file and %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("LoadConfig(%q) = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}
