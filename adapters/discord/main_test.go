package discord

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// TestMain fails the package when a goroutine outlives the tests: Run must
// stop discordgo's reader and heartbeat and its own workers. It stops the
// throwaway PostgreSQL of the shard tests, if they started one.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Keep-alive connections of http.DefaultTransport (TestGatewayThroughAPIURL).
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.Cleanup(func(code int) {
			postgrestest.Stop()
			os.Exit(code)
		}),
	)
}
