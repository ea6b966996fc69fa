package control

import (
	"bytes"
	"fmt"
	"testing"
)

// A new subscriber first gets the last replayBytes of output, however
// the output was split into writes.
func TestConsoleReplay(t *testing.T) {
	for _, tc := range []struct {
		total int
		sizes []int // write sizes, cycled
	}{
		{10, []int{1}},
		{replayBytes, []int{1}},
		{replayBytes + 1, []int{1}},
		{3*replayBytes + 7, []int{1}},
		{3*replayBytes + 7, []int{1000, 1, 4093}},
		{replayBytes - 3, []int{replayBytes - 5, 7}},
		{2*replayBytes + 5, []int{replayBytes + 1, 3}},
	} {
		t.Run(fmt.Sprint(tc.total, tc.sizes), func(t *testing.T) {
			out := make([]byte, tc.total)
			for i := range out {
				out[i] = byte(i*7 + i/251)
			}
			c := NewConsole()
			for p, i := out, 0; len(p) > 0; i++ {
				n := min(tc.sizes[i%len(tc.sizes)], len(p))
				c.Write(p[:n])
				p = p[n:]
			}
			ch, unsubscribe := c.Subscribe()
			defer unsubscribe()
			got := <-ch
			want := out[max(0, len(out)-replayBytes):]
			if !bytes.Equal(got, want) {
				t.Errorf("replay of %d bytes written in %v: got %d bytes, want the last %d", tc.total, tc.sizes, len(got), len(want))
			}
		})
	}
}

// Writing byte by byte into a full console allocates only the copies
// sent to subscribers: none without one.
func TestConsoleWriteAllocs(t *testing.T) {
	c := NewConsole()
	c.Write(make([]byte, replayBytes))
	b := []byte{'x'}
	if n := testing.AllocsPerRun(1000, func() { c.Write(b) }); n != 0 {
		t.Errorf("Console.Write of one byte allocates %v times, want 0", n)
	}
}
