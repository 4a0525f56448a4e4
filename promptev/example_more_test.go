package promptev_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

func ExampleStream_Next() {
	srv := promptevtest.NewServer("pk_example")
	defer srv.Close()
	srv.AddAgent("ops", promptevtest.Agent{
		Script: []promptevtest.Event{
			{Type: "processing", Output: "Checking the deploy..."},
			{Type: "approval_required", Output: "Roll back release 2.14?", Tool: "deploy.rollback",
				Arguments: map[string]any{"release": "2.14"}},
		},
		OnApprove: []promptevtest.Event{{Type: "done", Output: "Rolled back."}},
	})
	c, _ := promptev.New("pk_example", promptev.WithBaseURL(srv.URL))
	ctx := context.Background()
	sess, _ := c.Start(ctx, "ops", promptev.StartOptions{})

	// Next returns events in order and io.EOF after the one that ends the
	// stream; an approval request ends it too, with the tool and arguments.
	st, _ := c.Stream(ctx, "ops", sess.SessionToken, "is prod healthy?")
	defer st.Close()
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.Type, ev.Tool, string(ev.Arguments), ev.Terminal())
	}
	// The approval is answered by streaming the approve text on the same session.
	st2, _ := c.Stream(ctx, "ops", sess.SessionToken, "approve")
	defer st2.Close()
	ev, _ := st2.Next()
	fmt.Println(ev.Type, ev.Output)
	// Output:
	// processing   false
	// approval_required deploy.rollback {"release":"2.14"} true
	// done Rolled back.
}

func ExampleAgentEvent_Terminal() {
	for _, typ := range []string{promptev.EventThoughts, promptev.EventProcessing, promptev.EventApprovalRequired, promptev.EventDone, promptev.EventError} {
		fmt.Println(typ, promptev.AgentEvent{Type: typ}.Terminal())
	}
	// Output:
	// thoughts false
	// processing false
	// approval_required true
	// done true
	// error true
}

func ExampleDefaultEndpoints() {
	e := promptev.DefaultEndpoints()
	fmt.Println(e.Stream)
	// Output:
	// /api/sdk/v1/agent/{agent_id}/stream
}

func ExampleEndpoints_Validate() {
	e := promptev.DefaultEndpoints()
	fmt.Println(e.Validate(promptev.AuthBearer()))
	// With the key in the path, every template must have a {project_key} segment.
	fmt.Println(e.Validate(promptev.AuthPath()) != nil)
	e.Stream = "/sdk/{project_key}/agents/{agent_id}/stream"
	e.Start = "/sdk/{project_key}/agents/{agent_id}/start"
	e.Trigger = "/sdk/{project_key}/agents/{agent_id}/trigger"
	fmt.Println(e.Validate(promptev.AuthPath()))
	// Output:
	// <nil>
	// true
	// <nil>
}

func ExampleClient_CloseIdleConnections() {
	srv := promptevtest.NewServer("pk_example")
	defer srv.Close()
	c, _ := promptev.New("pk_example", promptev.WithBaseURL(srv.URL))
	// Release pooled connections, e.g. before the process exits or the
	// server behind base_url is replaced.
	c.CloseIdleConnections()
	fmt.Println("closed")
	// Output:
	// closed
}
