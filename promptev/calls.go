package promptev

import (
	"context"
	"encoding/json"
	"net/http"
)

// invalidArg is a client-side validation error.
func invalidArg(msg string) error {
	return &ValidationError{&Error{Message: msg}}
}

// Trigger runs agentID on message in one blocking call and returns its final
// answer. opts.SessionID continues an earlier trigger conversation.
func (c *Client) Trigger(ctx context.Context, agentID, message string, opts TriggerOptions) (*AgentResult, error) {
	if agentID == "" {
		return nil, invalidArg("trigger: agent id is required")
	}
	if message == "" {
		return nil, invalidArg("trigger: message is required")
	}
	body := struct {
		Message   string         `json:"message"`
		SessionID string         `json:"session_id,omitempty"`
		Variables map[string]any `json:"variables,omitempty"`
		Visitor   string         `json:"visitor,omitempty"`
	}{message, opts.SessionID, opts.Variables, opts.Visitor}
	raw, err := c.unary(ctx, operation{name: "trigger", tmpl: c.endpoints.Trigger, agentID: agentID, body: body})
	if err != nil {
		return nil, err
	}
	var resp struct {
		Response  json.RawMessage `json:"response"`
		SessionID json.RawMessage `json:"session_id"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, badResponse("trigger", raw, err)
	}
	return &AgentResult{Response: jsonText(resp.Response), SessionID: jsonText(resp.SessionID), Raw: raw}, nil
}

// Start opens a streaming session with agentID. Pass the returned
// SessionToken to Stream for every turn.
func (c *Client) Start(ctx context.Context, agentID string, opts StartOptions) (*AgentSession, error) {
	if agentID == "" {
		return nil, invalidArg("start: agent id is required")
	}
	body := struct {
		Visitor  string `json:"visitor,omitempty"`
		Platform string `json:"platform,omitempty"`
	}{opts.Visitor, opts.Platform}
	raw, err := c.unary(ctx, operation{name: "start", tmpl: c.endpoints.Start, agentID: agentID, body: body})
	if err != nil {
		return nil, err
	}
	var resp struct {
		SessionToken  json.RawMessage   `json:"session_token"`
		AgentID       json.RawMessage   `json:"agent_id"`
		ChatbotID     json.RawMessage   `json:"chatbot_id"`
		Name          json.RawMessage   `json:"name"`
		MemoryEnabled json.RawMessage   `json:"memory_enabled"`
		Messages      []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, badResponse("start", raw, err)
	}
	s := &AgentSession{
		SessionToken: jsonText(resp.SessionToken),
		AgentID:      jsonText(resp.AgentID),
		Name:         jsonText(resp.Name),
		Messages:     resp.Messages,
		Raw:          raw,
	}
	if s.AgentID == "" {
		s.AgentID = jsonText(resp.ChatbotID)
	}
	var mem bool
	if json.Unmarshal(resp.MemoryEnabled, &mem) == nil {
		s.MemoryEnabled = mem
	}
	if s.SessionToken == "" {
		return nil, badResponse("start", raw, errNoSessionToken)
	}
	return s, nil
}

// unary sends op and returns its capped body.
func (c *Client) unary(ctx context.Context, op operation) (json.RawMessage, error) {
	resp, cancel, err := c.send(ctx, op)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	return c.readBody(op.name, resp.Body)
}

// errNoSessionToken reports a start answer without a token.
var errNoSessionToken = jsonError("response has no session_token")

type jsonError string

func (e jsonError) Error() string { return string(e) }

// badResponse reports a 2xx answer the client cannot use.
func badResponse(op string, raw []byte, err error) error {
	text := string(raw)
	if len(text) > maxErrorText {
		text = text[:maxErrorText] + "..."
	}
	return &Error{StatusCode: http.StatusOK, ResponseText: text, Message: op + ": unusable response: " + err.Error(), Err: err}
}

// jsonText returns a JSON string's value, "" for null or absent, and the JSON
// text itself for other values (numbers, objects).
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}
