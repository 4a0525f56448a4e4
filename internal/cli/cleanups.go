package cli

import "sync"

// Cleanups are the clean-ups the commands register for an exit that skips
// their deferred calls: main runs them before it exits on a second signal,
// so a demo's temporary store is removed even then. The zero value is ready;
// a nil *Cleanups ignores every call.
type Cleanups struct {
	mu   sync.Mutex
	next int
	fns  map[int]func()
}

// Add registers fn and returns a function that runs fn (once) and
// unregisters it, for the command's own deferred call.
func (c *Cleanups) Add(fn func()) (runNow func()) {
	var once sync.Once
	run := func() { once.Do(fn) }
	if c == nil {
		return run
	}
	c.mu.Lock()
	if c.fns == nil {
		c.fns = make(map[int]func())
	}
	id := c.next
	c.next++
	c.fns[id] = run
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.fns, id)
		c.mu.Unlock()
		run()
	}
}

// Run runs every registered clean-up that has not run yet.
func (c *Cleanups) Run() {
	if c == nil {
		return
	}
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
