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
	mu     sync.Mutex
	recent []byte
	subs   map[chan []byte]struct{}
	closed bool
}

// NewConsole returns an empty console.
func NewConsole() *Console { return &Console{subs: map[chan []byte]struct{}{}} }

// Write records p and sends it to every subscriber.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recent = append(c.recent, p...)
	if len(c.recent) > replayBytes {
		c.recent = append([]byte(nil), c.recent[len(c.recent)-replayBytes:]...)
	}
	for ch := range c.subs {
		select {
		case ch <- bytes.Clone(p):
		default:
		}
	}
	return len(p), nil
}

// Subscribe returns a channel of output, starting with the recent
// output, and a function that unsubscribes.
func (c *Console) Subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, 1024)
	c.mu.Lock()
	if len(c.recent) > 0 {
		ch <- bytes.Clone(c.recent)
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
