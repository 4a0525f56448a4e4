package bridge

import (
	"context"

	"github.com/promptev/promptev-bridge/promptev"
)

// ClientAgent adapts a Promptev SDK client to the Agent interface.
func ClientAgent(c *promptev.Client) Agent { return clientAgent{c: c} }

// clientAgent is the Agent over a *promptev.Client.
type clientAgent struct{ c *promptev.Client }

var (
	_ Agent       = clientAgent{}
	_ EventStream = (*promptev.Stream)(nil)
)

// Start starts an agent session.
func (a clientAgent) Start(ctx context.Context, agentID string, opts promptev.StartOptions) (*promptev.AgentSession, error) {
	return a.c.Start(ctx, agentID, opts)
}

// Stream opens an agent stream. A nil *promptev.Stream is never returned as a
// non-nil EventStream.
func (a clientAgent) Stream(ctx context.Context, agentID, sessionToken, query string) (EventStream, error) {
	s, err := a.c.Stream(ctx, agentID, sessionToken, query)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Trigger makes one blocking trigger call.
func (a clientAgent) Trigger(ctx context.Context, agentID, message string, opts promptev.TriggerOptions) (*promptev.AgentResult, error) {
	return a.c.Trigger(ctx, agentID, message, opts)
}
