package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

type fakeInstalls struct{ broken []chat.BrokenInstallation }

func (f *fakeInstalls) ServesInstallations() bool                      { return true }
func (f *fakeInstalls) BrokenInstallations() []chat.BrokenInstallation { return f.broken }

func TestInstallationMetrics(t *testing.T) {
	m := New(Options{NoRuntimeCollectors: true})
	m.InstallationEvent("slack", "installed") // before registration: not counted, no panic
	r := &fakeInstalls{}
	require.NoError(t, m.RegisterInstallations("slack", r))
	assert.Contains(t, gather(t, m, "promptev_bridge_installation_events_total"),
		`promptev_bridge_installation_events_total{event="broken",platform="slack"} 0`, "series exist at zero")
	assert.Empty(t, gather(t, m, "promptev_bridge_installation_broken"), "no broken installation, no series")

	m.InstallationEvent("slack", "installed")
	m.InstallationEvent("slack", "installed")
	m.InstallationEvent("slack", "broken")
	r.broken = []chat.BrokenInstallation{{ID: "slack//T1", Team: "T1", Reason: "invalid_auth", Since: time.Now()}}
	events := gather(t, m, "promptev_bridge_installation_events_total")
	assert.Contains(t, events, `promptev_bridge_installation_events_total{event="installed",platform="slack"} 2`)
	assert.Contains(t, events, `promptev_bridge_installation_events_total{event="broken",platform="slack"} 1`)
	assert.Contains(t, gather(t, m, "promptev_bridge_installation_broken"),
		`promptev_bridge_installation_broken{error="invalid_auth",platform="slack",team="T1"} 1`)
	assert.Error(t, m.RegisterInstallations("slack", r), "one registration per platform")
}

// A check's detail is shown without failing /readyz; a failing check shows
// its error only.
func TestReadyzDetail(t *testing.T) {
	detail := "1 installation(s) broken: T1 invalid_auth"
	s := NewServer(ServerOptions{Checks: []Check{
		{Name: "slack", Ready: func() error { return nil }, Detail: func() string { return detail }},
		{Name: "other", Ready: func() error { return nil }, Detail: func() string { return "" }},
	}})
	read := func() (int, string) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	code, body := read()
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready\nslack: ok (1 installation(s) broken: T1 invalid_auth)\nother: ok\n", body)

	s = NewServer(ServerOptions{Checks: []Check{
		{Name: "slack", Ready: func() error { return errors.New("not connected") }, Detail: func() string { return detail }},
	}})
	code, body = read()
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "not ready\nslack: not connected\n", body)
}
