// Package workgroup is a wait group that can be closed: once closed it
// refuses new work, so a Wait that follows Close cannot race with a
// goroutine started late (sync.WaitGroup forbids an Add that may happen
// concurrently with a Wait at zero).
package workgroup

import "sync"

// Group counts the goroutines it starts. The zero Group is open and ready
// to use; a Group must not be copied after first use.
type Group struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f on a new goroutine counted by the group and reports true, or
// reports false without running f once the group is closed. f may call Go.
func (g *Group) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Go(f)
	return true
}

// Close makes later calls to Go refuse their work. It does not wait for the
// goroutines already started (Wait does); calling it again does nothing.
func (g *Group) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Closed reports whether Close has been called.
func (g *Group) Closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Wait blocks until every goroutine started by Go has returned. Call Close
// first when work may still be added, or Wait may return before that work
// has even started.
func (g *Group) Wait() {
	g.wg.Wait()
}
