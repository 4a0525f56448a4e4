package slackfake

import (
	"encoding/json"
	"net/http"
)

// AgentSessionStopped is Slack's agent_session_stopped event: a user
// clicked the native stop button of an agent session in processing.
type AgentSessionStopped struct {
	// Team defaults to TeamID (it is on the enclosing event_callback).
	Team            string
	Channel, Thread string
	User            string
	// StreamingTS are the app's streaming messages Slack stopped; empty
	// (an empty array on the wire) when no stream was active.
	StreamingTS []string
}

// AgentSessionStoppedBody returns the event_callback JSON of ev, in the
// documented shape: {"type":"agent_session_stopped","channel","user",
// "thread_ts","streaming_message_ts":[...],"event_ts"}.
func (s *Server) AgentSessionStoppedBody(ev AgentSessionStopped) json.RawMessage {
	if ev.Team == "" {
		ev.Team = TeamID
	}
	streaming := ev.StreamingTS
	if streaming == nil {
		streaming = []string{}
	}
	s.mu.Lock()
	eventID := s.nextIDLocked("Ev")
	ts := s.nextTSLocked()
	s.mu.Unlock()
	body := map[string]any{
		"token": "fake-verification-token", "team_id": ev.Team, "api_app_id": AppID,
		"event": map[string]any{
			"type": "agent_session_stopped", "channel": ev.Channel, "user": ev.User,
			"thread_ts": ev.Thread, "streaming_message_ts": streaming, "event_ts": ts,
		},
		"type": "event_callback", "event_id": eventID, "event_time": eventTime(ts),
		"authorizations": []map[string]any{{"team_id": ev.Team, "user_id": BotUserID, "is_bot": true}},
	}
	data, err := json.Marshal(body)
	if err != nil {
		panic(err) // unreachable: only strings, slices and maps
	}
	return data
}

// SendAgentSessionStopped sends ev as an events_api envelope over Socket Mode.
func (s *Server) SendAgentSessionStopped(ev AgentSessionStopped) (string, error) {
	return s.SendEnvelope(Envelope{Type: "events_api", Payload: s.AgentSessionStoppedBody(ev)})
}

// PostAgentSessionStopped POSTs ev as a signed Events API request.
func (s *Server) PostAgentSessionStopped(eventsURL string, ev AgentSessionStopped, opts PostOptions) (*http.Response, error) {
	return PostSigned(eventsURL, "application/json", s.AgentSessionStoppedBody(ev), opts)
}
