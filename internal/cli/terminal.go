package cli

import (
	"io"
	"sync"
)

// sharedStderr is the writer of the logs on a terminal a platform may draw
// on: it writes to stderr until a platform asks to share the terminal
// (chat.Host.ShareTerminal), then through the platform's wrapper, so that a
// live status redrawn in place never wipes a log line.
type sharedStderr struct {
	mu sync.Mutex
	w  io.Writer
}

func newSharedStderr(stderr io.Writer) *sharedStderr { return &sharedStderr{w: stderr} }

// share is the chat.Host.ShareTerminal hook.
func (s *sharedStderr) share(wrap func(io.Writer) io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = wrap(s.w)
}

func (s *sharedStderr) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}
