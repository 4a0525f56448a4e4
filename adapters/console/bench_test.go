package console

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/promptev/promptev-bridge/chat"
)

// BenchmarkStatusEdit measures one live status edit rendered to a terminal
// and to plain output.
func BenchmarkStatusEdit(b *testing.B) {
	for _, tty := range []bool{false, true} {
		name := "plain"
		if tty {
			name = "tty"
		}
		b.Run(name, func(b *testing.B) {
			a := New(Options{In: strings.NewReader(""), Out: io.Discard, TTY: tty})
			ctx := context.Background()
			ref, err := a.Post(ctx, a.Key(), chat.Message{Kind: chat.KindStatus, Status: "Thinking..."})
			if err != nil {
				b.Fatal(err)
			}
			msgs := []chat.Message{
				{Kind: chat.KindStatus, Status: "Searching Jira...", Thought: "check Jira", Steps: []chat.Step{{Text: "Searching Jira..."}}},
				{Kind: chat.KindStatus, Status: "Reading logs...", Steps: []chat.Step{{Text: "Searching Jira...", Done: true}, {Text: "Reading logs..."}}},
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := a.Edit(ctx, ref, msgs[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
