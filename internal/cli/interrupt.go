package cli

import "sync"

// Interrupts lets a terminal conversation take a Ctrl-C for itself: while a
// run is under way, the first Ctrl-C stops that run instead of the program.
// main offers every SIGINT to Take before it shuts down. The zero value is
// ready; a nil *Interrupts takes nothing. It is safe for concurrent use.
type Interrupts struct {
	mu sync.Mutex
	fn func() bool
}

// Set makes fn take SIGINTs (fn reports whether it used one) until the
// returned function is called.
func (h *Interrupts) Set(fn func() bool) (unset func()) {
	if h == nil {
		return func() {}
	}
	h.mu.Lock()
	h.fn = fn
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.fn = nil
		h.mu.Unlock()
	}
}

// Take offers a SIGINT to the hook and reports whether it was used (a run
// was stopped, so the program goes on).
func (h *Interrupts) Take() bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	fn := h.fn
	h.mu.Unlock()
	return fn != nil && fn()
}
