package cgroups

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestStatsGolden reads fixture cgroup directories (files as the kernel
// prints them) and pins the JSON: runc's "events --stats" field names,
// v2's io.stat mapped onto v1's tables, microseconds turned into
// nanoseconds, v1's clock ticks too, "max" as the largest number.
func TestStatsGolden(t *testing.T) {
	v1dir := filepath.Join("testdata", "stats", "v1")
	paths := map[string]string{}
	for _, c := range []string{"cpuacct", "cpu", "memory", "pids", "blkio", "cpuset"} {
		paths[c] = filepath.Join(v1dir, c)
	}
	for _, tt := range []struct {
		name  string
		stats func() (*Stats, error)
	}{
		{"stats-v2", func() (*Stats, error) { return statsV2(filepath.Join("testdata", "stats", "v2"), []string{"2MB"}) }},
		{"stats-v1", func() (*Stats, error) { return statsV1(paths, nil) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := tt.stats()
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.MarshalIndent(&Event{Type: "stats", ID: "fixture", Data: st}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, string(b)+"\n")
		})
	}
}

// TestStatsMissingFiles: a controller that is off leaves its part zero,
// not an error; an unreadable value is an error naming the file.
func TestStatsMissingFiles(t *testing.T) {
	dir := t.TempDir()
	st, err := statsV2(dir, []string{"2MB"})
	if err != nil {
		t.Fatalf("stats of an empty directory: %v", err)
	}
	if st.Memory.Usage.Usage != 0 || st.CPU.PSI != nil {
		t.Errorf("stats of an empty directory: %+v", st)
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.current"), []byte("lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := statsV2(dir, nil); err == nil {
		t.Error("pids.current = lots: no error")
	} else {
		t.Log(err)
	}
}
