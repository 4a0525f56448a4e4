package slack_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// answerAgent answers every question at once.
var answerAgent = promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Answer to {{query}}"}}}

// TestE2ESilencedConnectionAnsweredOnce: one of the adapter's two Socket Mode
// connections goes half-open (open, but nothing Slack sends arrives). Slack
// (the fake) spreads two mentions across the connections, so one of them
// lands on the dead connection, is not acknowledged and is redelivered on
// the other. Each mention is answered exactly once.
func TestE2ESilencedConnectionAnsweredOnce(t *testing.T) {
	r := newRig(t, answerAgent, nil)
	r.fake.Await(t, "two healthy connections", func() bool { return r.adapter.HealthyConnections() == 2 })
	ids := r.fake.ConnIDs()
	require.Len(t, ids, 2)
	require.True(t, r.fake.Silence(ids[0]))

	first := r.fake.Mention("C1", "U1", "first")
	second := r.fake.Mention("C1", "U2", "second")
	r.fake.Deliver(first)
	r.fake.Deliver(second)
	r.threadShows(t, "C1", first.TS, "Answer to first")
	r.threadShows(t, "C1", second.TS, "Answer to second")

	var lost, retried int
	for _, ev := range []slackfake.Event{first, second} {
		ds := r.fake.Deliveries(ev.EventID)
		require.NotEmpty(t, ds)
		if ds[0].Conn == ids[0] {
			lost++
			require.GreaterOrEqual(t, len(ds), 2, "the envelope lost on the silent connection is retried")
			assert.Equal(t, 1, ds[1].RetryAttempt)
			assert.Equal(t, "timeout", ds[1].RetryReason)
			assert.Equal(t, ids[1], ds[1].Conn, "the retry goes to the other connection")
			retried++
		}
		assert.Len(t, r.fake.Thread("C1", ev.TS), 1, "answered exactly once")
	}
	assert.Equal(t, 1, lost, "one of the two mentions went to the silent connection first")
	assert.Equal(t, 1, retried)
	assert.Equal(t, 2, r.streams(), "one run per mention")
	r.assertNoRejectedCalls(t)
}

// TestE2EDuplicateOnTwoConnectionsRunsOnce: the same event arriving on both
// connections (a retry that overtook the first delivery) starts one run.
func TestE2EDuplicateOnTwoConnectionsRunsOnce(t *testing.T) {
	r := newRig(t, answerAgent, nil)
	r.fake.Await(t, "two healthy connections", func() bool { return r.adapter.HealthyConnections() == 2 })
	ids := r.fake.ConnIDs()
	require.Len(t, ids, 2)

	ev := r.fake.Mention("C1", "U1", "twice")
	body := r.fake.EventBody(ev)
	var err error
	for i, id := range ids {
		env := slackfake.Envelope{Type: "events_api", Payload: body}
		if i > 0 {
			env.RetryAttempt, env.RetryReason = 1, "timeout"
		}
		env.EnvelopeID, err = r.fake.SendEnvelopeOn(id, env)
		require.NoError(t, err)
		r.fake.Await(t, "ack", func() bool { return r.fake.Acked(env.EnvelopeID) })
	}
	// Each connection hands its events over in order: once a later event
	// on each has been answered, both deliveries have reached the bridge.
	for i, id := range ids {
		sentinel := r.fake.Mention("C2", "U1", "sentinel"+string(rune('a'+i)))
		_, err = r.fake.SendEnvelopeOn(id, slackfake.Envelope{Type: "events_api", Payload: r.fake.EventBody(sentinel)})
		require.NoError(t, err)
		r.threadShows(t, "C2", sentinel.TS, "Answer to sentinel")
	}
	r.threadShows(t, "C1", ev.TS, "Answer to twice")
	assert.Len(t, r.fake.Thread("C1", ev.TS), 1, "one reply")
	assert.Equal(t, 3, r.streams(), "one run for the duplicated mention, one per sentinel")
}

// TestE2EBareMentionGetsHint: a bare @bot (the documented app_mention
// payload in testdata, and the fake's own) gets the hint in its thread and
// starts no run.
func TestE2EBareMentionGetsHint(t *testing.T) {
	r := newRig(t, answerAgent, nil)
	data, err := os.ReadFile(filepath.Join("testdata", "app_mention_bare.json"))
	require.NoError(t, err)
	require.NoError(t, r.fake.SendRaw(bytes.ReplaceAll(data, []byte("U0LAN0Z89"), []byte(slackfake.BotUserID))))
	hint := r.threadShows(t, "C123ABC456", "1515449522.000016", chat.EmptyQuestionText)
	assert.Equal(t, "C123ABC456", hint.Channel)

	bare := r.fake.Mention("C1", "U1", "")
	assert.Equal(t, "<@"+slackfake.BotUserID+">", bare.Text)
	_, err = r.fake.SendEvent(bare, 0)
	require.NoError(t, err)
	r.threadShows(t, "C1", bare.TS, chat.EmptyQuestionText)

	// A question afterwards runs; the bare mentions did not.
	q := r.fake.Mention("C1", "U1", "real question")
	_, err = r.fake.SendEvent(q, 0)
	require.NoError(t, err)
	r.threadShows(t, "C1", q.TS, "Answer to real question")
	assert.Equal(t, 1, r.streams())
	assert.Len(t, r.fake.Thread("C1", bare.TS), 1, "one hint")
	r.assertNoRejectedCalls(t)
}
