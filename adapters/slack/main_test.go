package slack

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// TestMain fails the run when a test leaves goroutines behind (Run, the
// Socket Mode client, the HTTP listener and slackfake must all stop).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Keep-alive connections of http.DefaultClient and slack-go's client.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		// The replica tests' throwaway PostgreSQL, if they started one.
		goleak.Cleanup(func(code int) {
			postgrestest.Stop()
			os.Exit(code)
		}),
	)
}
