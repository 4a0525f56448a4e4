package promptev_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// exampleServer starts a fake API with one scripted agent.
func exampleServer() *promptevtest.Server {
	srv := promptevtest.NewServer("pk_example")
	srv.AddAgent("helpdesk", promptevtest.Agent{
		Name:          "Helpdesk",
		MemoryEnabled: true,
		Script: []promptevtest.Event{
			{Type: "thoughts", Output: "The user asks: {{query}}"},
			{Type: "processing", Output: "Searching Jira..."},
			{Type: "done", Output: "Found 2 tickets about {{query}}."},
		},
	})
	return srv
}

func ExampleNew() {
	_, err := promptev.New("")
	fmt.Println(err)

	c, err := promptev.New("pk_example",
		promptev.WithBaseURL("https://promptev.example.com/"),
		promptev.WithAuth(promptev.AuthHeader("X-Api-Key")),
		promptev.WithMaxRetries(3),
	)
	fmt.Println(c != nil, err)
	// Output:
	// promptev: project key is missing
	// true <nil>
}

func ExampleParseAuth() {
	for _, s := range []string{"bearer", "header:X-Api-Key", "path", "cookie"} {
		a, err := promptev.ParseAuth(s)
		fmt.Println(a, err != nil)
	}
	// Output:
	// bearer false
	// header:X-Api-Key false
	// path false
	// bearer true
}

func ExampleClient_Trigger() {
	srv := exampleServer()
	defer srv.Close()
	c, err := promptev.New("pk_example", promptev.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}

	res, err := c.Trigger(context.Background(), "helpdesk", "VPN", promptev.TriggerOptions{
		Variables: map[string]any{"team": "IT"},
		Visitor:   "slack:T1:U1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Response)
	fmt.Println(res.SessionID != "")

	_, err = c.Trigger(context.Background(), "nobody", "hi", promptev.TriggerOptions{})
	var nf *promptev.NotFoundError
	fmt.Println(errors.As(err, &nf))
	// Output:
	// Found 2 tickets about VPN.
	// true
	// true
}

func ExampleClient_Start() {
	srv := exampleServer()
	defer srv.Close()
	c, _ := promptev.New("pk_example", promptev.WithBaseURL(srv.URL))

	sess, err := c.Start(context.Background(), "helpdesk", promptev.StartOptions{Visitor: "discord:123", Platform: "discord"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sess.AgentID, sess.Name, sess.MemoryEnabled, sess.SessionToken != "")
	// Output:
	// helpdesk Helpdesk true true
}

func ExampleClient_Stream() {
	srv := exampleServer()
	defer srv.Close()
	c, _ := promptev.New("pk_example", promptev.WithBaseURL(srv.URL))
	ctx := context.Background()
	sess, err := c.Start(ctx, "helpdesk", promptev.StartOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}

	st, err := c.Stream(ctx, "helpdesk", sess.SessionToken, "printers")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("stream failed:", err)
			return
		}
		fmt.Printf("%s: %s\n", ev.Type, ev.Output)
	}
	// Output:
	// thoughts: The user asks: printers
	// processing: Searching Jira...
	// done: Found 2 tickets about printers.
}

func ExampleStream_Close() {
	srv := exampleServer()
	defer srv.Close()
	c, _ := promptev.New("pk_example", promptev.WithBaseURL(srv.URL))
	ctx := context.Background()
	sess, _ := c.Start(ctx, "helpdesk", promptev.StartOptions{})
	st, _ := c.Stream(ctx, "helpdesk", sess.SessionToken, "printers")

	ev, _ := st.Next()
	fmt.Println(ev.Type)
	_ = st.Close() // stop early: the HTTP request is cancelled
	_, err := st.Next()
	fmt.Println(errors.Is(err, promptev.ErrStreamClosed))
	// Output:
	// thoughts
	// true
}
