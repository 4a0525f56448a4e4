package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
)

// A prompt (chat.Prompt: the bridge asks the clicker for text, such as a
// denial's reason) is a modal opened with views.open and the click's
// trigger_id. Its answer comes back as a view_submission whose view carries
// the callback id below and, in private_metadata, what the answer is for.
const (
	promptCallbackID = "pvb_prompt"
	promptBlockID    = "pvb_prompt_text"
	promptActionID   = "text"
	// maxModalTitle is Slack's limit on a modal's title.
	maxModalTitle = 24
	// maxInputLabel is Slack's limit on an input block's label.
	maxInputLabel = 2000
	// maxInputLength is Slack's limit on a plain_text_input's max_length.
	maxInputLength = 3000
)

// promptMeta is a prompt modal's private_metadata: the action its answer
// is handed to the bridge as, and where the clicker was (for notices).
type promptMeta struct {
	Kind    chat.ActionKind `json:"kind"`
	Target  string          `json:"target"`
	Team    string          `json:"team,omitempty"`
	Channel string          `json:"channel,omitempty"`
	Thread  string          `json:"thread,omitempty"`
}

// promptModal is the modal asking for p's text; key is where the click was.
func promptModal(p chat.Prompt, key chat.ConversationKey) (slack.ModalViewRequest, error) {
	meta, err := json.Marshal(promptMeta{Kind: p.Kind, Target: p.Target, Team: key.Workspace, Channel: key.Channel, Thread: key.Thread})
	if err != nil {
		return slack.ModalViewRequest{}, fmt.Errorf("prompt metadata: %w", err)
	}
	input := slack.NewPlainTextInputBlockElement(nil, promptActionID)
	input.Multiline = true
	if p.MaxChars > 0 {
		input.MaxLength = min(p.MaxChars, maxInputLength)
	}
	label := p.Label
	if strings.TrimSpace(label) == "" {
		label = "Text"
	}
	title := p.Title
	if strings.TrimSpace(title) == "" {
		title = "Tell the bridge"
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      promptCallbackID,
		Title:           plain(chat.TruncateRunes(title, maxModalTitle)),
		Submit:          plain("Send"),
		Close:           plain("Cancel"),
		PrivateMetadata: string(meta),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock(promptBlockID, plain(chat.TruncateRunes(label, maxInputLabel)), nil, input),
		}},
	}, nil
}

// openPrompt opens the modal for p with the click's trigger_id; a failure
// (an expired trigger) is told to the clicker.
func (a *Adapter) openPrompt(ctx context.Context, triggerID string, p chat.Prompt, key chat.ConversationKey, user string) {
	view, err := promptModal(p, key)
	if err == nil {
		_, err = a.webAPI(ctx, key.Workspace).OpenViewContext(ctx, triggerID, view)
	}
	if err != nil {
		a.log.Warn("slack prompt not opened", "kind", p.Kind, "target", p.Target, errAttr(mapError("views.open", err)))
		a.sendNotices(ctx, key, user, []string{"Sorry, the form could not be opened. Please click again."})
	}
}

// submittedPrompt reads a prompt modal's view_submission: the action it
// answers, with the typed text, and the conversation for notices. ok is
// false for views that are not the bridge's prompts.
func submittedPrompt(cb slack.InteractionCallback) (act chat.Action, where chat.ConversationKey, ok bool) {
	if cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != promptCallbackID {
		return chat.Action{}, chat.ConversationKey{}, false
	}
	var meta promptMeta
	if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta); err != nil || !meta.Kind.Valid() || meta.Target == "" {
		return chat.Action{}, chat.ConversationKey{}, false
	}
	text := ""
	if cb.View.State != nil {
		text = cb.View.State.Values[promptBlockID][promptActionID].Value
	}
	act = chat.Action{
		Platform: Name,
		Kind:     meta.Kind,
		Target:   meta.Target,
		User:     chat.User{ID: cb.User.ID, Name: firstNonEmpty(cb.User.Name, cb.User.RealName)},
		Text:     text,
	}
	return act, key(firstNonEmpty(meta.Team, cb.Team.ID, cb.User.TeamID), meta.Channel, meta.Thread), true
}
