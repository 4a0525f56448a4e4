package discordfake

import (
	"encoding/json"
	"unicode/utf8"
)

// Interaction types the fake dispatches.
const (
	interactionComponent   = 3
	interactionModalSubmit = 5
)

// Discord's documented limits of a modal: custom_id 1 to 100 characters, a
// title of 1 to 45, 1 to 5 action rows each holding one text input (type
// 4) whose custom_id has 1 to 100 characters, label 1 to 45, style 1
// (short) or 2 (paragraph) and max_length at most 4,000.
const (
	maxModalTitle     = 45
	maxModalRows      = 5
	maxTextInputLabel = 45
	maxTextInputLen   = 4000
	maxCustomID       = 100
	componentRow      = 1
	componentText     = 4
)

// Modal is the modal of a MODAL interaction response.
type Modal struct {
	CustomID string
	Title    string
	Inputs   []TextInput
}

// TextInput is a text input of a modal.
type TextInput struct {
	CustomID  string `json:"custom_id"`
	Label     string `json:"label"`
	Style     int    `json:"style"`
	Required  bool   `json:"required"`
	MaxLength int    `json:"max_length"`
}

// parseModal reads and checks a MODAL response's data; code is Discord's
// error code (50035 Invalid Form Body) when it breaks the limits.
func parseModal(raw json.RawMessage) (m Modal, code int, msg string) {
	var data struct {
		CustomID   string `json:"custom_id"`
		Title      string `json:"title"`
		Components []struct {
			Type       int `json:"type"`
			Components []struct {
				Type int `json:"type"`
				TextInput
			} `json:"components"`
		} `json:"components"`
	}
	bad := func(what string) (Modal, int, string) {
		return Modal{}, codeInvalidFormBody, "Invalid Form Body: data." + what
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		return bad("")
	}
	switch {
	case data.CustomID == "" || len(data.CustomID) > maxCustomID:
		return bad("custom_id")
	case data.Title == "" || utf8.RuneCountInString(data.Title) > maxModalTitle:
		return bad("title")
	case len(data.Components) == 0 || len(data.Components) > maxModalRows:
		return bad("components")
	}
	m = Modal{CustomID: data.CustomID, Title: data.Title}
	for _, row := range data.Components {
		if row.Type != componentRow || len(row.Components) != 1 {
			return bad("components")
		}
		in := row.Components[0]
		switch {
		case in.Type != componentText:
			return bad("components.type")
		case in.CustomID == "" || len(in.CustomID) > maxCustomID:
			return bad("components.custom_id")
		case in.Label == "" || utf8.RuneCountInString(in.Label) > maxTextInputLabel:
			return bad("components.label")
		case in.Style != 1 && in.Style != 2:
			return bad("components.style")
		case in.MaxLength < 0 || in.MaxLength > maxTextInputLen:
			return bad("components.max_length")
		}
		m.Inputs = append(m.Inputs, in.TextInput)
	}
	return m, 0, ""
}

// ModalSubmit is a submitted modal, dispatched as INTERACTION_CREATE of
// type MODAL_SUBMIT (5).
type ModalSubmit struct {
	// GuildID is empty for a DM.
	GuildID   string
	ChannelID string
	// MessageID is the message whose button opened the modal.
	MessageID string
	// CustomID is the modal's custom id.
	CustomID string
	UserID   string
	UserName string
	// Values are the typed texts by text input custom id.
	Values map[string]string
}

// SubmitModal dispatches a MODAL_SUBMIT interaction in Discord's documented
// shape (data.custom_id and data.components: action rows of text inputs
// with their values) and returns its id.
func (s *Server) SubmitModal(m ModalSubmit) (string, error) {
	id, tok := s.newInteraction(m.ChannelID, m.GuildID)
	s.mu.Lock()
	s.interactions[tok].kind = interactionModalSubmit
	s.mu.Unlock()
	ev := s.interactionBase(id, tok, interactionModalSubmit, m.GuildID, m.ChannelID, m.UserID, m.UserName)
	rows := make([]any, 0, len(m.Values))
	for cid, v := range m.Values {
		rows = append(rows, map[string]any{"type": componentRow, "components": []any{
			map[string]any{"type": componentText, "custom_id": cid, "value": v},
		}})
	}
	ev["data"] = map[string]any{"custom_id": m.CustomID, "components": rows}
	if m.MessageID != "" {
		ev["message"] = map[string]any{"id": m.MessageID, "channel_id": m.ChannelID, "content": "",
			"author": botUser(), "type": 0}
	}
	return id, s.Dispatch("INTERACTION_CREATE", ev)
}
