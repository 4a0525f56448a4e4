package bridge

import (
	"context"

	"github.com/promptev/promptev-bridge/promptev"
)

// Agent is the part of the Promptev API the bridge uses. ClientAgent adapts a
// *promptev.Client; tests may fake it.
type Agent interface {
	Start(ctx context.Context, agentID string, opts promptev.StartOptions) (*promptev.AgentSession, error)
	Stream(ctx context.Context, agentID, sessionToken, query string) (EventStream, error)
	Trigger(ctx context.Context, agentID, message string, opts promptev.TriggerOptions) (*promptev.AgentResult, error)
}

// EventStream is an open agent stream. Next returns io.EOF after the terminal
// event; Close releases it early and makes a blocked Next return. A stream
// that goes idle must fail on its own (ClientAgent: the SDK's read-idle
// timeout, promptev.idle_timeout, failing with promptev.ErrStreamIdle): the
// engine bounds a run only by runs.run_timeout.
type EventStream interface {
	Next() (promptev.AgentEvent, error)
	Close() error
}
