package bolt

import (
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkFastConversation decodes raw with the fast decoder and, when it
// accepts, requires encoding/json to accept it too with the same result.
// It returns whether the fast decoder accepted.
func checkFastConversation(t *testing.T, sc schema, raw []byte) bool {
	t.Helper()
	var fast chat.Conversation
	if !decodeConversationFast(raw, sc.version(kindConversations), &fast) {
		assert.Zero(t, fast, "a refused record leaves the destination alone")
		return false
	}
	var slow chat.Conversation
	if err := decode(sc, kindConversations, []byte("key"), raw, &slow); err != nil {
		t.Fatalf("fast decoder accepted %q, encoding/json refuses it: %v", raw, err)
	}
	if !assert.Equal(t, slow, fast, "fast and encoding/json decodes of %q differ", raw) {
		t.FailNow()
	}
	return true
}

func TestDecodeConversationFast(t *testing.T) {
	sc := defaultSchema()
	plus2 := time.FixedZone("", 2*3600)
	written := []chat.Conversation{
		conversation(1),
		{Key: chat.ConversationKey{Platform: "discord", Workspace: "g1", Channel: "c1"}, AgentID: "a", Mode: chat.ModeTrigger,
			SessionID: "s-1", Visitor: "discord:g1:u1", Created: t0.In(plus2), LastActive: t0.Add(time.Nanosecond), Turns: -3},
		{Key: chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: "1.2"}, AgentID: "agënt 世界",
			Mode: chat.ModeStream, SessionToken: "tok", Visitor: "slack:T1:Ü"},
		{},
	}
	for _, c := range written {
		raw, err := encode(sc, kindConversations, c)
		require.NoError(t, err)
		require.True(t, checkFastConversation(t, sc, raw), "what this build writes takes the fast path: %s", raw)
	}

	tests := []struct {
		name string
		raw  string
		fast bool
	}{
		{"spaces everywhere", ` { "v" : 1 , "key" : { "platform" : "slack" } , "turns" : 0 } `, true},
		{"members in another order", `{"turns":2,"key":{"thread":"t","platform":"p"},"v":1,"mode":"stream"}`, true},
		{"empty object with version", `{"v":1}`, true},
		{"escaped string", `{"v":1,"agent_id":"a\"b"}`, false},
		{"html-escaped by encoding/json", `{"v":1,"visitor":"a\u003cb"}`, false},
		{"control character", "{\"v\":1,\"agent_id\":\"a\tb\"}", false},
		{"invalid UTF-8", "{\"v\":1,\"agent_id\":\"a\xffb\"}", false},
		{"field given twice", `{"v":1,"turns":1,"turns":2}`, false},
		{"key member given twice", `{"v":1,"key":{"channel":"a","channel":"b"}}`, false},
		{"name in another case", `{"v":1,"Turns":4}`, false},
		{"upper-case V", `{"V":1}`, false},
		{"unknown member", `{"v":1,"extra":true}`, false},
		{"no version", `{"turns":1}`, false},
		{"older version", `{"v":0,"turns":1}`, false},
		{"newer version", `{"v":2,"turns":1}`, false},
		{"fractional turns", `{"v":1,"turns":1.0}`, false},
		{"exponent turns", `{"v":1,"turns":1e2}`, false},
		{"leading zero", `{"v":1,"turns":01}`, false},
		{"negative zero", `{"v":1,"turns":-0}`, true},
		{"19 digits", `{"v":1,"turns":1000000000000000000}`, false},
		{"null string", `{"v":1,"agent_id":null}`, false},
		{"bad time", `{"v":1,"created":"yesterday"}`, false},
		{"trailing garbage", `{"v":1} x`, false},
		{"trailing comma", `{"v":1,}`, false},
		{"unterminated", `{"v":1,"agent_id":"a`, false},
		{"not an object", `[1]`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.fast, checkFastConversation(t, sc, []byte(tt.raw)))
		})
	}
}

// The fast path allocates once per record: the string its fields share.
func TestDecodeConversationFastAllocations(t *testing.T) {
	sc := defaultSchema()
	raw, err := encode(sc, kindConversations, conversation(7))
	require.NoError(t, err)
	var c chat.Conversation
	allocs := testing.AllocsPerRun(100, func() {
		if !decodeConversationFast(raw, sc.version(kindConversations), &c) {
			t.Fatal("fast path refused a written record")
		}
	})
	assert.Equal(t, 1.0, allocs)
	assert.Equal(t, conversation(7), c)
}
