package main

import (
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"2026-11-23T08:00:00Z", time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)},
		{"2026-11-23T08:00:00.5+01:00", time.Date(2026, 11, 23, 7, 0, 0, 5e8, time.UTC)},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.25", time.Unix(1700000000, 25e7)},
		{"yesterday", time.Time{}},
	} {
		got, err := parseSince(tc.in, now)
		if tc.want.IsZero() {
			if err == nil {
				t.Errorf("parseSince(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
