// Package promptevtest is a fake Promptev agent API for tests, benchmarks and
// the offline demo.
//
// NewServer starts a real HTTP server on 127.0.0.1 (net/http/httptest) that
// speaks the wire protocol the promptev client assumes (docs/ARCHITECTURE.md,
// "The assumed Promptev wire protocol"):
//
//	POST /api/sdk/v1/agent/{agent_id}/trigger  {"message", "session_id"?, "variables"?, "visitor"?}
//	POST /api/sdk/v1/agent/{agent_id}/start    {"visitor"?, "platform"?}
//	POST /api/sdk/v1/agent/{agent_id}/stream   {"session_token", "query"}  -> text/event-stream
//
// Agents are scripted (AddAgent with a Go value, or LoadScript from a JSON or
// YAML file; see testdata/helpdesk.yaml): each turn streams a list of events,
// each optionally delayed. Output text may use the templates {{query}} (the
// current query) and {{history}} (earlier queries of the session joined with
// " | ", only for agents with MemoryEnabled). A turn that ends with
// approval_required is continued by the next turn on the same session: the
// approve query (default "approve") streams Agent.OnApprove, the deny query
// (default "deny") streams Agent.OnDeny.
//
// Authentication is enforced: a request without the project key gets 401. The
// key placement (bearer, named header or path segment) and the endpoint
// templates are configurable with SetAuth and SetEndpoints, so the client's
// reconfigurable wire protocol can be tested end to end. Sessions are created
// by start; a stream or trigger on an unknown session gets 404, and
// ForgetSessions simulates the API losing every session.
//
// NewInMemoryServer serves the same handler without sockets: a real
// http.Server on an in-memory listener whose connections are net.Pipe ends,
// reached only through the server's Client (or Transport). It works inside a
// testing/synctest bubble, where the scripted delays and the client's
// timeouts run on fake time; create it in the bubble and Close it there.
//
// InjectFault makes the next matching requests misbehave: an HTTP status (5xx,
// 429 with Retry-After), a slow drip of bytes, a stall, a disconnect in the
// middle of an event, a malformed JSON line, LF/CRLF/CR framing, a multi-MiB
// event, or EOF without a terminal event. Every request is recorded and can be
// inspected with Requests.
package promptevtest
