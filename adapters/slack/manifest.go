package slack

import (
	_ "embed"
	"strings"
)

//go:embed manifest.yaml
var socketManifest string

// Manifest returns the Slack app manifest for mode (ModeSocket or ModeHTTP):
// the scopes, events and interactivity the adapter needs. In HTTP mode,
// Socket Mode is off and the request URLs point at publicURL (the address of
// the TLS proxy in front of slack.listen) with the default paths.
func Manifest(mode, publicURL string) string {
	if mode != ModeHTTP {
		return socketManifest
	}
	base := strings.TrimRight(publicURL, "/")
	d := DefaultConfig()
	m := strings.Replace(socketManifest,
		"# Slack app manifest for promptev-bridge in Socket Mode (the default).",
		"# Slack app manifest for promptev-bridge in HTTP mode (slack.mode: http).", 1)
	m = strings.Replace(m, "  event_subscriptions:\n",
		"  event_subscriptions:\n    request_url: "+base+d.EventsPath+"\n", 1)
	m = strings.Replace(m, "  interactivity:\n    is_enabled: true        # Approve / Deny buttons\n",
		"  interactivity:\n    is_enabled: true        # Approve / Deny buttons\n    request_url: "+base+d.InteractionsPath+"\n", 1)
	return strings.Replace(m, "socket_mode_enabled: true", "socket_mode_enabled: false", 1)
}
