package discord

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/promptev/promptev-bridge/chat"
)

// Gateway close codes after which reconnecting cannot help.
// https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes
const (
	CloseAuthenticationFailed = 4004
	CloseInvalidShard         = 4010
	CloseShardingRequired     = 4011
	CloseInvalidAPIVersion    = 4012
	CloseInvalidIntents       = 4013
	CloseDisallowedIntents    = 4014
)

// GatewayCloseError is returned by Run when Discord closed the gateway with a
// code that reconnecting cannot fix. Hint says what the operator should do.
type GatewayCloseError struct {
	Code int
	Hint string
}

func (e *GatewayCloseError) Error() string {
	return fmt.Sprintf("discord: gateway closed with fatal code %d: %s", e.Code, e.Hint)
}

// fatalClose returns a *GatewayCloseError when err is a websocket close with a
// fatal code, and nil otherwise.
func fatalClose(err error) *GatewayCloseError {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return nil
	}
	hint, ok := fatalHint(ce.Code)
	if !ok {
		return nil
	}
	return &GatewayCloseError{Code: ce.Code, Hint: hint}
}

// fatalHint says what to do about a fatal close code; ok is false for codes
// after which the adapter reconnects.
func fatalHint(code int) (hint string, ok bool) {
	switch code {
	case CloseAuthenticationFailed:
		return "authentication failed: the bot token (discord.token) is wrong or was reset; copy a fresh one from the Developer Portal, Bot page", true
	case CloseInvalidShard:
		return "invalid shard: check discord.shards, or discord.shard_id and discord.shard_count", true
	case CloseShardingRequired:
		return "sharding required: the bot is in too many guilds for one connection; set discord.shards: auto", true
	case CloseInvalidAPIVersion:
		return "invalid API version: check discord.api_url", true
	case CloseInvalidIntents:
		return "invalid intents", true
	case CloseDisallowedIntents:
		return "disallowed intents: enable the Message Content intent for the bot in the Developer Portal (Bot page, Privileged Gateway Intents)", true
	}
	return "", false
}

// mapErr turns a discordgo error into the form the bridge expects: a 429
// becomes *chat.RateLimitError; request URLs (which carry interaction
// tokens) are removed from transport errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) && rl.RateLimit != nil && rl.TooManyRequests != nil {
		scope := "channel"
		if rl.Bucket != "" {
			scope = "bucket " + rl.Bucket
		}
		global := rl.Bucket == globalBucket // set by the transport (normalise429)
		if global {
			scope = "global"
		}
		return &chat.RateLimitError{RetryAfter: rl.RetryAfter, Scope: scope, Global: global}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &redactedURLError{op: strings.ToLower(ue.Op), err: ue.Err}
	}
	return err
}

// redactedURLError is a *url.Error without its URL.
type redactedURLError struct {
	op  string
	err error
}

func (e *redactedURLError) Error() string { return e.op + " request: " + e.err.Error() }
func (e *redactedURLError) Unwrap() error { return e.err }

// restCode returns Discord's JSON error code of a REST error, or 0.
func restCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

// Discord JSON error codes the adapter reacts to.
const (
	codeUnknownChannel     = 10003
	codeUnknownMessage     = 10008
	codeMissingAccess      = 50001
	codeMissingPermissions = 50013
	codeInvalidChannelType = 50024
	codeThreadExists       = 160004
	codeMaxActiveThreads   = 160006
)
