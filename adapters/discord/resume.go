package discord

import (
	"encoding/json"
	"net"
	"net/url"
)

// Discord asks a client to RESUME on READY's resume_gateway_url; resuming on
// the original gateway host works, but leads to more disconnects.
// discordgo v0.29.0 ignores the field and keeps the gateway URL in an
// unexported field that its goroutines read without a lock, so the adapter
// does not change the URL: it sends the resume's connection to the resume
// host at the dialer instead. The websocket handshake (and, for wss, the
// TLS server name) still names the original gateway host, which Discord's
// gateway hosts share a certificate for.

// onReadyRaw keeps READY's resume_gateway_url (discordgo's Ready lacks it).
func (s *shard) onReadyRaw(raw json.RawMessage) {
	var r struct {
		ResumeGatewayURL string `json:"resume_gateway_url"`
	}
	if json.Unmarshal(raw, &r) != nil || r.ResumeGatewayURL == "" {
		return
	}
	u, err := url.Parse(r.ResumeGatewayURL)
	if err != nil || u.Hostname() == "" {
		s.log.Warn("READY carried an unusable resume_gateway_url; resuming on the original gateway", "url", r.ResumeGatewayURL)
		return
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "ws" {
			port = "80"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	s.resumeAddr.Store(&addr)
}

// gatewayAddr is where a gateway dial for addr goes: the resume host for
// the first attempt to resume a session that was up, else addr.
func (s *shard) gatewayAddr(addr string) string {
	if !s.resumeNext.Swap(false) {
		return addr
	}
	if p := s.resumeAddr.Load(); p != nil {
		return *p
	}
	return addr
}
