package control

import (
	"bytes"
	"sync"
)

// replayBytes is how much recent console output a new attach sees first.
const replayBytes = 64 << 10

// Console is a VM's console output fanned out to attached clients, with
// the most recent output kept for replay. Write never blocks on a slow
// client: a client that falls behind by more than its buffer loses output.
type Console struct {
	mu sync.Mutex
	// recent grows to replayBytes, then is a ring whose oldest byte is
	// at next: a guest writing byte by byte costs no allocation then.
	recent []byte
	next   int
	subs   map[chan []byte]struct{}
	closed bool
}

// NewConsole returns an empty console.
func NewConsole() *Console { return &Console{subs: map[chan []byte]struct{}{}} }

// Write records p and sends it to every subscriber.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remember(p)
	for ch := range c.subs {
		select {
		case ch <- bytes.Clone(p):
		default:
		}
	}
	return len(p), nil
}

// remember keeps the last replayBytes of output.
func (c *Console) remember(p []byte) {
	if len(p) >= replayBytes {
		c.recent = append(c.recent[:0], p[len(p)-replayBytes:]...)
		c.next = 0
		return
	}
	if n := min(len(p), replayBytes-len(c.recent)); n > 0 {
		c.recent = append(c.recent, p[:n]...)
		p = p[n:]
	}
	for len(p) > 0 { // full: overwrite the oldest
		n := copy(c.recent[c.next:], p)
		p = p[n:]
		c.next = (c.next + n) % replayBytes
	}
}

// Subscribe returns a channel of output, starting with the recent
// output, and a function that unsubscribes.
func (c *Console) Subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, 1024)
	c.mu.Lock()
	if len(c.recent) > 0 {
		ch <- append(bytes.Clone(c.recent[c.next:]), c.recent[:c.next]...)
	}
	if c.closed {
		close(ch)
		c.mu.Unlock()
		return ch, func() {}
	}
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		if _, ok := c.subs[ch]; ok {
			delete(c.subs, ch)
			close(ch)
		}
		c.mu.Unlock()
	}
}

// Close ends every subscription.
func (c *Console) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for ch := range c.subs {
		delete(c.subs, ch)
		close(ch)
	}
}
