package promptevtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

func ExampleNewServer() {
	srv := promptevtest.NewServer("pk_test")
	defer srv.Close()
	srv.AddAgent("helper", promptevtest.Agent{
		MemoryEnabled: true,
		Script:        []promptevtest.Event{{Type: "done", Output: "you said {{query}} (before: {{history}})"}},
	})

	c, _ := promptev.New("pk_test", promptev.WithBaseURL(srv.URL))
	ctx := context.Background()
	sess, _ := c.Start(ctx, "helper", promptev.StartOptions{})
	for _, q := range []string{"hi", "again"} {
		st, _ := c.Stream(ctx, "helper", sess.SessionToken, q)
		ev, _ := st.Next()
		fmt.Println(ev.Output)
	}
	fmt.Println(len(srv.Requests()), "requests")
	// Output:
	// you said hi (before: )
	// you said again (before: hi)
	// 3 requests
}

func ExampleServer_InjectFault() {
	srv := promptevtest.NewServer("pk_test")
	defer srv.Close()
	srv.AddAgent("helper", promptevtest.Agent{})
	// The next two requests fail with 503; the client retries them.
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 503, Times: 2})

	c, _ := promptev.New("pk_test", promptev.WithBaseURL(srv.URL), promptev.WithRetryBackoff(time.Millisecond, time.Millisecond))
	res, err := c.Trigger(context.Background(), "helper", "ping", promptev.TriggerOptions{})
	fmt.Println(res.Response, err, len(srv.Requests()))

	// A stream that ends without its done event.
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultEOFWithoutDone, Times: 1})
	sess, _ := c.Start(context.Background(), "helper", promptev.StartOptions{})
	st, _ := c.Stream(context.Background(), "helper", sess.SessionToken, "ping")
	_, err = st.Next()
	fmt.Println(errors.Is(err, promptev.ErrIncompleteStream))
	// Output:
	// You said: ping <nil> 3
	// true
}

func ExampleLoadScript() {
	f, err := os.Open("testdata/helpdesk.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	agent, err := promptevtest.LoadScript(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := promptevtest.NewServer("pk_test")
	defer srv.Close()
	srv.AddAgent("helpdesk", agent)

	c, _ := promptev.New("pk_test", promptev.WithBaseURL(srv.URL))
	ctx := context.Background()
	sess, _ := c.Start(ctx, "helpdesk", promptev.StartOptions{})
	for _, q := range []string{"broken VPN", "approve"} {
		st, _ := c.Stream(ctx, "helpdesk", sess.SessionToken, q)
		for {
			ev, err := st.Next()
			if err != nil {
				break
			}
			fmt.Printf("%s: %s\n", ev.Type, ev.Output)
		}
	}
	// Output:
	// thoughts: Reading: broken VPN
	// processing: Searching Jira...
	// approval_required: Create a ticket for broken VPN?
	// processing: Creating the ticket...
	// done: Ticket HELP-1 created.
}
