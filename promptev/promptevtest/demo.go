package promptevtest

import "time"

// DemoAgent returns a helpdesk agent for the offline demo: it thinks, reports
// two tool steps, asks to approve creating a ticket, and answers in Markdown
// after approve or deny. It remembers earlier turns.
func DemoAgent() Agent {
	const step = 400 * time.Millisecond
	return Agent{
		Name:          "Demo Helpdesk",
		MemoryEnabled: true,
		Script: []Event{
			{Type: TypeThoughts, Output: "The user asks: {{query}}", Delay: step},
			{Type: TypeProcessing, Output: "Searching the knowledge base...", Delay: step},
			{Type: TypeProcessing, Output: "Searching Jira...", Delay: step},
			{
				Type: TypeApprovalRequired, Output: "Create a Jira ticket for \"{{query}}\"?", Delay: step,
				Tool: "jira.create_issue", Arguments: map[string]any{"project": "HELP", "summary": "{{query}}"},
			},
		},
		OnApprove: []Event{
			{Type: TypeProcessing, Output: "Creating the ticket...", Delay: step},
			{Type: TypeDone, Output: "**Done.** Ticket `HELP-42` was created.\n\nEarlier in this thread: {{history}}", Delay: step},
		},
		OnDeny: []Event{
			{Type: TypeDone, Output: "OK, no ticket was created.", Delay: step},
		},
	}
}
