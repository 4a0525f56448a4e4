package chat

import (
	"errors"
	"strings"
)

// ConversationKey identifies one conversation: a thread on a platform.
//
// Slack: Workspace is the team id, Channel the channel id, Thread the ts of the
// thread's root message (empty for inline DM conversations). Discord: Workspace
// is the guild id or "dm", Channel the channel id (the thread id for threads),
// Thread is set only where the adapter needs it to address the thread.
type ConversationKey struct {
	Platform  string `json:"platform"`
	Workspace string `json:"workspace"`
	Channel   string `json:"channel"`
	Thread    string `json:"thread,omitempty"`
}

// String renders the key as "platform/workspace/channel/thread", the form used in
// logs and as the store's key. Parts are escaped so the form is unambiguous.
func (k ConversationKey) String() string {
	return keyEscaper.Replace(k.Platform) + "/" + keyEscaper.Replace(k.Workspace) + "/" +
		keyEscaper.Replace(k.Channel) + "/" + keyEscaper.Replace(k.Thread)
}

// Valid reports whether the key names a platform and a channel.
func (k ConversationKey) Valid() bool { return k.Platform != "" && k.Channel != "" }

var (
	keyEscaper   = strings.NewReplacer("%", "%25", "/", "%2F")
	keyUnescaper = strings.NewReplacer("%25", "%", "%2F", "/")
)

// ParseConversationKey parses the String form of a key.
func ParseConversationKey(s string) (ConversationKey, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 4 {
		return ConversationKey{}, errors.New("bridge: conversation key must have 4 parts: " + s)
	}
	k := ConversationKey{
		Platform:  keyUnescaper.Replace(parts[0]),
		Workspace: keyUnescaper.Replace(parts[1]),
		Channel:   keyUnescaper.Replace(parts[2]),
		Thread:    keyUnescaper.Replace(parts[3]),
	}
	if !k.Valid() {
		return ConversationKey{}, errors.New("bridge: conversation key lacks platform or channel: " + s)
	}
	return k, nil
}

// User is a person (or bot) on a platform.
type User struct {
	// ID is the platform's user id (Slack U123, Discord snowflake).
	ID string `json:"id"`
	// Name is a display name, when known; used in "Approved by X".
	Name string `json:"name,omitempty"`
}

// Display returns the name to show for the user.
func (u User) Display() string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}
