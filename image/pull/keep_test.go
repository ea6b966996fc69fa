package pull

import (
	"bytes"
	"testing"
	"time"
)

// TestKeeper: a download keeps its first keepFirst bytes, and the rest
// only when the blob takes keepSlow or more to arrive.
func TestKeeper(t *testing.T) {
	chunk := bytes.Repeat([]byte("k"), 1<<20)
	for _, tc := range []struct {
		name    string
		size    int64
		elapsed time.Duration // when keepFirst bytes have arrived
		want    int64
	}{
		{"fast", 64 << 20, 100 * time.Millisecond, keepFirst}, // 64 MiB in 0.8 s
		{"slow", 64 << 20, time.Second, 64 << 20},             // 64 MiB in 8 s
		{"small", 4 << 20, 0, 4 << 20},                        // never measured
	} {
		var kept bytes.Buffer
		k := newKeeper(&kept, tc.size)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		k.start, k.now = t0, func() time.Time { return t0.Add(tc.elapsed) }
		for sent := int64(0); sent < tc.size; sent += int64(len(chunk)) {
			if n, err := k.Write(chunk); n != len(chunk) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tc.name, n, err)
			}
		}
		if int64(kept.Len()) != tc.want {
			t.Errorf("%s: kept %d bytes of %d, want %d", tc.name, kept.Len(), tc.size, tc.want)
		}
	}
}
