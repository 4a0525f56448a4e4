package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/chat"
)

// Fuzz targets for everything the Slack adapter parses from the network:
// Events API callbacks (Socket Mode payloads and HTTP bodies), the signed
// HTTP endpoints, and block_actions interaction payloads.

// fuzzNow is the fixed receive time of the fuzz targets (determinism).
var fuzzNow = time.Unix(1764331200, 0)

func fuzzIdentity() *identity {
	return &identity{TeamID: slackfake.TeamID, UserID: slackfake.BotUserID, BotID: slackfake.BotID,
		mentionRE: newMentionMatcher(slackfake.BotUserID)}
}

// eventSeed is an event_callback body shaped like the ones Slack sends.
func eventSeed(inner map[string]any) []byte {
	body := map[string]any{
		"token": "fake-verification-token", "team_id": slackfake.TeamID, "api_app_id": slackfake.AppID,
		"event": inner, "type": "event_callback", "event_id": "Ev0001", "event_time": 1764331200,
		"authorizations": []map[string]any{{"team_id": slackfake.TeamID, "user_id": slackfake.BotUserID, "is_bot": true}},
	}
	data, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return data
}

func addEventSeeds(f *testing.F) {
	bot := "<@" + slackfake.BotUserID + ">"
	ts, thread := "1764331200.000100", "1764331100.000001"
	for _, inner := range []map[string]any{
		{"type": "app_mention", "user": "U1", "text": bot + " what is up?", "ts": ts, "channel": "C1", "event_ts": ts},
		{"type": "app_mention", "user": "U1", "text": "hey " + bot + " do it", "ts": ts, "thread_ts": thread, "channel": "C1", "event_ts": ts},
		{"type": "app_mention", "user": "U1", "text": "<@" + slackfake.BotUserID + "|promptev>  summarise", "ts": ts, "channel": "C1"},
		{"type": "app_mention", "user": "U1", "text": bot + " hi", "ts": ts, "channel": ""},
		{"type": "app_mention", "user": "U1", "text": "<@<@" + slackfake.BotUserID + ">" + slackfake.BotUserID + ">", "ts": ts, "channel": "C1"},
		{"type": "app_mention", "bot_id": "BOTHER", "user": "U9", "text": bot + " beep", "ts": ts, "channel": "C1"},
		{"type": "message", "channel_type": "channel", "user": "U1", "text": bot + " twin", "ts": ts, "channel": "C1"},
		{"type": "message", "channel_type": "channel", "user": "U2", "text": "and then?", "ts": ts, "thread_ts": thread, "channel": "C1"},
		{"type": "message", "channel_type": "channel", "user": "U2", "text": "chatter", "ts": ts, "channel": "C1"},
		{"type": "message", "channel_type": "im", "user": "U1", "text": "private question", "ts": ts, "channel": "D1"},
		{"type": "message", "channel_type": "im", "user": "U1", "text": "in a dm thread", "ts": ts, "thread_ts": thread, "channel": "D1"},
		{"type": "message", "channel_type": "im", "user": "U1", "text": "no channel", "ts": ts},
		{"type": "message", "channel_type": "channel", "subtype": "thread_broadcast", "user": "U2", "text": "also to channel", "ts": ts, "thread_ts": thread, "channel": "C1"},
		{"type": "message", "channel_type": "channel", "subtype": "message_changed", "channel": "C1", "ts": ts,
			"message": map[string]any{"user": "U2", "text": "edited", "ts": thread}},
		{"type": "message", "channel_type": "channel", "subtype": "channel_join", "user": "U3", "text": "<@U3> has joined", "ts": ts, "channel": "C1"},
		{"type": "message", "channel_type": "channel", "user": slackfake.BotUserID, "text": "my own reply", "ts": ts, "thread_ts": thread, "channel": "C1"},
		{"type": "reaction_added", "user": "U1", "reaction": "thumbsup", "item": map[string]any{"type": "message", "channel": "C1", "ts": ts}},
	} {
		f.Add(eventSeed(inner))
	}
	f.Add(slackfake.URLVerificationBody("chal-123"))
	f.Add([]byte(`{"type":"event_callback","event":{"type":"app_mention"}}`))
	f.Add([]byte(`{"type":"event_callback","event":null}`))
	f.Add([]byte(`{"type":"event_callback"}`))
	f.Add([]byte(`{"type":"url_verification"}`))
	f.Add([]byte(`{"type":"app_rate_limited","minute_rate_limited":1518467820}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`not json`))
	f.Add([]byte(``))
}

// checkInbound fails when msg is not something the bridge may be handed.
func checkInbound(t *testing.T, self *identity, msg chat.InboundMessage) {
	t.Helper()
	if !msg.Key.Valid() || msg.Key.Platform != Name {
		t.Fatalf("invalid conversation key %+v", msg.Key)
	}
	if got, err := chat.ParseConversationKey(msg.Key.String()); err != nil || got != msg.Key {
		t.Fatalf("key %+v does not survive the store's string form: %+v, %v", msg.Key, got, err)
	}
	if msg.User.ID == "" {
		t.Fatalf("message without author: %+v", msg)
	}
	if msg.Text != strings.TrimSpace(msg.Text) {
		t.Fatalf("text not trimmed: %q", msg.Text)
	}
	if self != nil {
		if msg.User.ID == self.UserID {
			t.Fatalf("the bot's own message was handed over: %+v", msg)
		}
		if self.mentionRE.contains(msg.Text) {
			t.Fatalf("text still holds the bot mention: %q", msg.Text)
		}
	}
}

// FuzzSlackInboundEvent feeds raw Events API bodies through slackevents.ParseEvent
// (as serveEvent does) and the adapter's mapping to chat.InboundMessage.
func FuzzSlackInboundEvent(f *testing.F) {
	addEventSeeds(f)
	self := fuzzIdentity()
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
		if err != nil {
			return
		}
		for _, id := range []*identity{self, nil} {
			msg, ok := inboundFromEvent(id, ev, fuzzNow)
			if !ok {
				if msg != (chat.InboundMessage{}) {
					t.Fatalf("dropped event returned a message: %+v", msg)
				}
				continue
			}
			checkInbound(t, id, msg)
			if !msg.Received.Equal(fuzzNow) {
				t.Fatalf("received time %v, want %v", msg.Received, fuzzNow)
			}
		}
	})
}

// fuzzHandler is a chat.Handler for the HTTP fuzz targets: it checks every
// hand-over and answers clicks with an empty result (no notice, so no Web
// API call follows).
type fuzzHandler struct {
	t    *testing.T // the current fuzz input's T; set before each request
	self *identity
	mu   sync.Mutex
	msgs int
	acts []chat.Action
}

func (h *fuzzHandler) reset(t *testing.T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t, h.msgs, h.acts = t, 0, nil
}

func (h *fuzzHandler) HandleMessage(_ context.Context, m chat.InboundMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs++
	checkInbound(h.t, h.self, m)
	return nil
}

func (h *fuzzHandler) HandleAction(_ context.Context, a chat.Action) (chat.ActionResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.acts = append(h.acts, a)
	return chat.ActionResult{}, nil
}

// fuzzHTTPAdapter is an HTTP-mode adapter that knows its identity, served
// in-process (no listener, no Web API).
func fuzzHTTPAdapter() (*Adapter, *fuzzHandler, http.Handler) {
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.Mode = ModeHTTP
	cfg.BotToken = slackfake.BotToken
	cfg.SigningSecret = slackfake.SigningSecret
	a := newAdapter(cfg, nil, slog.New(slog.DiscardHandler))
	a.now = func() time.Time { return fuzzNow }
	self := fuzzIdentity()
	a.self.Store(self)
	h := &fuzzHandler{self: self}
	return a, h, a.httpHandler(context.Background(), h)
}

// signedRequest is a POST of body to path, signed now with the fake's secret.
func signedRequest(path, contentType string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	at := time.Now()
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("X-Slack-Signature", slackfake.Sign(slackfake.SigningSecret, at, body))
	return req
}

// FuzzSlackHTTPEvents posts correctly signed random bodies to the HTTP-mode
// events endpoint: it never panics, answers 200, 400 or 413 (never 401: the
// signature is right), and hands over only valid messages.
func FuzzSlackHTTPEvents(f *testing.F) {
	addEventSeeds(f)
	a, h, srv := fuzzHTTPAdapter()
	f.Fuzz(func(t *testing.T, body []byte) {
		h.reset(t)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, signedRequest(a.cfg.EventsPath, "application/json", body))
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for a signed body", rec.Code)
		}
		if rec.Code != http.StatusOK && h.msgs > 0 {
			t.Fatalf("status %d but the bridge was handed %d messages", rec.Code, h.msgs)
		}
		if len(h.acts) > 0 {
			t.Fatalf("an events request produced clicks: %+v", h.acts)
		}
	})
}

// addClickSeeds adds block_actions payloads (and near misses).
func addClickSeeds(f *testing.F) {
	click := func(actionID, value string, mutate func(map[string]any)) []byte {
		body := map[string]any{
			"type":      "block_actions",
			"team":      map[string]any{"id": slackfake.TeamID, "domain": "fake"},
			"user":      map[string]any{"id": "U1", "username": "ana", "name": "ana", "team_id": slackfake.TeamID},
			"container": map[string]any{"type": "message", "message_ts": "1764331200.000200", "channel_id": "C1", "thread_ts": "1764331200.000100"},
			"channel":   map[string]any{"id": "C1", "name": "general"},
			"message":   map[string]any{"type": "message", "ts": "1764331200.000200", "thread_ts": "1764331200.000100"},
			"actions": []map[string]any{{
				"action_id": actionID, "block_id": "pvb_decide", "value": value, "type": "button",
				"text": map[string]any{"type": "plain_text", "text": "Approve"}, "action_ts": "1764331201.000001",
			}},
		}
		if mutate != nil {
			mutate(body)
		}
		data, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		return data
	}
	f.Add(click(ActionApprove, "apr_00000001", nil))
	f.Add(click(ActionDeny, "apr_00000001", nil))
	f.Add(click(ActionApprove, "", nil))
	f.Add(click("pvb_maybe", "apr_00000001", nil))
	f.Add(click("pvb_stop", "run_1", nil))
	f.Add(click("pvb_", "apr_00000001", nil))
	f.Add(click("pvb_Approve", "apr_00000001", nil))
	f.Add(click("pvb_9", "apr_00000001", nil))
	f.Add(click("PVB_APPROVE", "apr_00000001", nil))
	f.Add(click(ActionApprove, "apr_00000001", func(b map[string]any) { b["type"] = "view_submission" }))
	f.Add(click(ActionApprove, "apr_1", func(b map[string]any) {
		b["actions"] = []any{nil, map[string]any{"action_id": ActionDeny, "value": "apr_2"}, map[string]any{"action_id": ActionApprove}}
	}))
	f.Add([]byte(`{"type":"block_actions","actions":null}`))
	f.Add([]byte(`{"type":"block_actions","actions":[{}]}`))
	submission := func(callbackID, meta, text string) []byte {
		data, err := json.Marshal(map[string]any{
			"type": "view_submission",
			"team": map[string]any{"id": slackfake.TeamID, "domain": "fake"},
			"user": map[string]any{"id": "U1", "username": "ana", "name": "ana", "team_id": slackfake.TeamID},
			"view": map[string]any{"id": "V1", "type": "modal", "callback_id": callbackID, "private_metadata": meta,
				"state": map[string]any{"values": map[string]any{"pvb_prompt_text": map[string]any{
					"text": map[string]any{"type": "plain_text_input", "value": text}}}}},
		})
		if err != nil {
			panic(err)
		}
		return data
	}
	f.Add(submission("pvb_prompt", `{"kind":"deny","target":"apr_1","channel":"C1","thread":"1.0"}`, "wrong project"))
	f.Add(submission("pvb_prompt", `{"kind":"Deny!","target":"apr_1"}`, "x"))
	f.Add(submission("pvb_prompt", `{"kind":"deny","target":""}`, "x"))
	f.Add(submission("pvb_prompt", `not json`, "x"))
	f.Add(submission("other_modal", `{"kind":"deny","target":"apr_1"}`, "x"))
	f.Add([]byte(`{"type":"shortcut","callback_id":"x"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`garbage`))
}

// checkActions fails unless the actions are exactly the callback's
// block_actions on bridge buttons ("pvb_" and a valid kind, with a value),
// in order, each with the kind its action id names and the button's value
// as its target.
func checkActions(t *testing.T, cb slack.InteractionCallback, acts []chat.Action) {
	t.Helper()
	checkHandedActions(t, cb, acts, false)
}

// checkHandedActions is checkActions for what reaches the bridge: with
// prompts set, a submitted prompt modal (view_submission of the bridge's
// callback id with readable metadata) is one action too.
func checkHandedActions(t *testing.T, cb slack.InteractionCallback, acts []chat.Action, prompts bool) {
	t.Helper()
	if prompts {
		if act, _, ok := submittedPrompt(cb); ok {
			if len(acts) != 1 || acts[0].Kind != act.Kind || acts[0].Target != act.Target || acts[0].Text != act.Text ||
				acts[0].User.ID != cb.User.ID || !act.Kind.Valid() || act.Target == "" {
				t.Fatalf("prompt submission handed over as %+v, want %+v", acts, act)
			}
			return
		}
	}
	if len(acts) > 0 && cb.Type != slack.InteractionTypeBlockActions {
		t.Fatalf("%q interaction produced actions %+v", cb.Type, acts)
	}
	var want []chat.Action
	if cb.Type == slack.InteractionTypeBlockActions {
		for _, ba := range cb.ActionCallback.BlockActions {
			if ba == nil || ba.Value == "" {
				continue
			}
			kind := chat.ActionKind(strings.TrimPrefix(ba.ActionID, "pvb_"))
			if !strings.HasPrefix(ba.ActionID, "pvb_") || !kind.Valid() {
				continue
			}
			want = append(want, chat.Action{Kind: kind, Target: ba.Value})
		}
	}
	if len(acts) != len(want) {
		t.Fatalf("%d actions %+v, want %d %+v", len(acts), acts, len(want), want)
	}
	for i, act := range acts {
		if act.Platform != Name || act.Kind != want[i].Kind || act.Target != want[i].Target {
			t.Fatalf("action %d is %+v, want kind %q target %q", i, act, want[i].Kind, want[i].Target)
		}
		if act.User.ID != cb.User.ID {
			t.Fatalf("action user %q, clicker %q", act.User.ID, cb.User.ID)
		}
	}
}

// FuzzSlackInteraction parses block_actions payloads into chat.Actions,
// directly and through the signed HTTP-mode interactions endpoint: exactly
// the bridge's buttons ("pvb_<kind>") with a value become actions.
func FuzzSlackInteraction(f *testing.F) {
	addClickSeeds(f)
	a, h, srv := fuzzHTTPAdapter()
	f.Fuzz(func(t *testing.T, payload []byte) {
		var cb slack.InteractionCallback
		parsed := json.Unmarshal(payload, &cb) == nil
		if parsed {
			checkActions(t, cb, actionsFromCallback(cb, fuzzNow))
			_ = callbackKey(cb)
		}

		h.reset(t)
		form := url.Values{"payload": {string(payload)}}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, signedRequest(a.cfg.InteractionsPath, "application/x-www-form-urlencoded", []byte(form.Encode())))
		switch {
		case parsed && len(payload) > 0 && rec.Code != http.StatusOK,
			!parsed && rec.Code != http.StatusBadRequest:
			t.Fatalf("status %d (payload parsed: %v)", rec.Code, parsed)
		}
		if h.msgs > 0 {
			t.Fatalf("a click was handed over as %d messages", h.msgs)
		}
		if !parsed && len(h.acts) > 0 {
			t.Fatalf("unparsable payload produced actions %+v", h.acts)
		}
		if parsed {
			checkHandedActions(t, cb, h.acts, true)
		}
	})
}
