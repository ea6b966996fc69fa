package runtime

import "errors"

// cleanups is a stack of undo actions for setup that can fail halfway:
// each successful step pushes its undo, a failure runs them newest
// first, and success releases them.
type cleanups struct{ fns []func() error }

func (c *cleanups) push(fn func() error) { c.fns = append(c.fns, fn) }

// run undoes everything pushed so far and returns what could not be
// undone, joined.
func (c *cleanups) run() error {
	var errs []error
	for i := len(c.fns) - 1; i >= 0; i-- {
		if err := c.fns[i](); err != nil {
			errs = append(errs, err)
		}
	}
	c.fns = nil
	return errors.Join(errs...)
}

func (c *cleanups) release() { c.fns = nil }
