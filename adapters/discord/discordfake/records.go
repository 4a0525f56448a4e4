package discordfake

import (
	"encoding/json"
	"time"
)

// Discord channel types the fake uses.
const (
	ChannelTypeGuildText    = 0
	ChannelTypeDM           = 1
	ChannelTypePublicThread = 11
)

// Interaction callback types, as recorded in InteractionResponse.Type.
const (
	ResponseChannelMessage = 4
	ResponseDeferredUpdate = 6
	ResponseUpdateMessage  = 7
	ResponseModal          = 9
)

// Message flags the fake understands.
const (
	FlagSuppressEmbeds = 1 << 2
	FlagEphemeral      = 1 << 6
)

// Channel is a guild channel, thread or DM channel the fake knows.
type Channel struct {
	ID       string `json:"id"`
	GuildID  string `json:"guild_id,omitempty"`
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name,omitempty"`
	Type     int    `json:"type"`
}

// AllowedMentions is the allowed_mentions object of a send or edit.
type AllowedMentions struct {
	Parse []string `json:"parse"`
	Users []string `json:"users,omitempty"`
	Roles []string `json:"roles,omitempty"`
}

// None reports whether nothing may be pinged (an empty parse list and no ids).
func (m *AllowedMentions) None() bool {
	return m != nil && m.Parse != nil && len(m.Parse) == 0 && len(m.Users) == 0 && len(m.Roles) == 0
}

// Button is a button found in a message's components.
type Button struct {
	CustomID string `json:"custom_id"`
	Label    string `json:"label"`
	Style    int    `json:"style"`
}

// Message is a message as the fake holds it now (after any edits).
type Message struct {
	ID        string
	ChannelID string
	GuildID   string
	AuthorID  string
	// FromBot is true for messages the bot created through REST or an interaction answer.
	FromBot bool
	Content string
	// Components is the raw components JSON as last sent ("[]" once removed).
	Components      json.RawMessage
	AllowedMentions *AllowedMentions
	Flags           int
	// ReplyTo is the message_reference message id, if any.
	ReplyTo string
	// Interaction is the id of the interaction the message answers, if any.
	Interaction string
	Edits       int
	Deleted     bool
	Created     time.Time
}

// Buttons returns the buttons of the message's components.
func (m Message) Buttons() []Button { return parseButtons(m.Components) }

// Edit is one PATCH of a message.
type Edit struct {
	MessageID string
	ChannelID string
	// Content is nil when the edit left the content unchanged.
	Content *string
	// Components is nil when the edit left the components unchanged.
	Components      json.RawMessage
	AllowedMentions *AllowedMentions
	Flags           int
	At              time.Time
}

// Buttons returns the buttons the edit set.
func (e Edit) Buttons() []Button { return parseButtons(e.Components) }

// Thread is a thread created through REST on a message.
type Thread struct {
	ID             string
	ParentID       string
	GuildID        string
	Name           string
	ArchiveMinutes int
}

// InteractionResponse is an answer to an interaction (the callback).
type InteractionResponse struct {
	InteractionID string
	Type          int
	// Modal is the modal of a MODAL (9) response.
	Modal   *Modal
	Content string
	Flags   int
	// AllowedMentions is that of the response data, if any.
	AllowedMentions *AllowedMentions
	At              time.Time
}

// Ephemeral reports whether the response is visible to the clicker only.
func (r InteractionResponse) Ephemeral() bool { return r.Flags&FlagEphemeral != 0 }

// Followup is a follow-up message sent with an interaction token.
type Followup struct {
	InteractionID   string
	Content         string
	Flags           int
	AllowedMentions *AllowedMentions
}

// Command is a registered application command.
type Command struct {
	ApplicationID string
	GuildID       string
	Name          string
	Description   string
	Options       json.RawMessage
	// Contexts is the command's "contexts" field as sent (nil when absent);
	// Discord documents it for global commands only.
	Contexts json.RawMessage
}

// Identify is an Identify (op 2) the gateway received.
type Identify struct {
	Token   string  `json:"token"`
	Intents int64   `json:"intents"`
	Shard   *[2]int `json:"shard"`
	// At is when the fake received it.
	At time.Time `json:"-"`
}

// Snapshot is a copy of everything the fake recorded.
type Snapshot struct {
	// Messages are all messages in creation order, bot's and users'.
	Messages             []Message
	Edits                []Edit
	Threads              []Thread
	InteractionResponses []InteractionResponse
	Followups            []Followup
	Commands             []Command
	// Typing lists channel ids in the order typing was triggered.
	Typing     []string
	Identifies []Identify
	// Resumes counts RESUME (op 6) attempts, Resumed the RESUMED answers and
	// InvalidSessions the refused ones (op 9); Readies counts READY dispatches.
	Resumes int
	Resumed int
	// Replayed counts dispatches sent again after a RESUME (those the
	// client's seq said it missed).
	Replayed        int
	InvalidSessions int
	Readies         int
	// Connections is the number of gateway connections open now;
	// ConnectedShards their [shard_id, num_shards], by shard id ({0, 1} for
	// a connection without a shard).
	Connections     int
	ConnectedShards [][2]int
	// Heartbeats counts heartbeats (op 1) received.
	Heartbeats int
	// RateLimited counts 429 answers sent; GlobalRateLimited those for the
	// global limit.
	RateLimited       int
	GlobalRateLimited int
	// UnknownKeys lists the message body keys Discord does not document, as
	// "METHOD key" (for example a stray "PATCH ID").
	UnknownKeys []string
}

// BotMessages returns the messages the bot created, in order.
func (s Snapshot) BotMessages() []Message {
	var out []Message
	for _, m := range s.Messages {
		if m.FromBot {
			out = append(out, m)
		}
	}
	return out
}

// ChannelMessages returns the messages in one channel, in order.
func (s Snapshot) ChannelMessages(channelID string) []Message {
	var out []Message
	for _, m := range s.Messages {
		if m.ChannelID == channelID {
			out = append(out, m)
		}
	}
	return out
}

// Message returns the message with the id, if recorded.
func (s Snapshot) Message(id string) (Message, bool) {
	for _, m := range s.Messages {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

func parseButtons(raw json.RawMessage) []Button {
	if len(raw) == 0 {
		return nil
	}
	var rows []struct {
		Components []struct {
			Type int `json:"type"`
			Button
		} `json:"components"`
	}
	if json.Unmarshal(raw, &rows) != nil {
		return nil
	}
	var out []Button
	for _, r := range rows {
		for _, c := range r.Components {
			if c.Type == 2 {
				out = append(out, c.Button)
			}
		}
	}
	return out
}
