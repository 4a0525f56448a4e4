package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerRoutes(t *testing.T) {
	var storeOpen, slackReady atomic.Bool
	m := New(Options{NoRuntimeCollectors: true})
	s := NewServer(ServerOptions{
		Metrics: m,
		Checks: []Check{
			{Name: "store", Ready: func() error {
				if !storeOpen.Load() {
					return errors.New("closed")
				}
				return nil
			}},
			{Name: "slack", Ready: func() error {
				if !slackReady.Load() {
					return errors.New("not connected")
				}
				return nil
			}},
		},
	})
	m.MessageReceived("slack")

	tests := []struct {
		name       string
		setup      func()
		path       string
		wantStatus int
		wantBody   []string
	}{
		{name: "healthz always ok", setup: func() {}, path: "/healthz", wantStatus: 200, wantBody: []string{"ok"}},
		{name: "readyz names every failing check", setup: func() {}, path: "/readyz", wantStatus: 503,
			wantBody: []string{"not ready", "store: closed", "slack: not connected"}},
		{name: "readyz with one failing check", setup: func() { storeOpen.Store(true) }, path: "/readyz", wantStatus: 503,
			wantBody: []string{"store: ok", "slack: not connected"}},
		{name: "readyz ready", setup: func() { slackReady.Store(true) }, path: "/readyz", wantStatus: 200,
			wantBody: []string{"ready", "store: ok", "slack: ok"}},
		{name: "metrics exposition", setup: func() {}, path: "/metrics", wantStatus: 200,
			wantBody: []string{`promptev_bridge_messages_received_total{platform="slack"} 1`}},
		{name: "unknown path", setup: func() {}, path: "/nope", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			assert.Equal(t, tt.wantStatus, rec.Code)
			for _, want := range tt.wantBody {
				assert.Contains(t, rec.Body.String(), want)
			}
		})
	}
}

func TestServerStartOnPortZeroAndShutdown(t *testing.T) {
	s := NewServer(ServerOptions{Addr: "127.0.0.1:0", Metrics: New(Options{})})
	addr, err := s.Start()
	require.NoError(t, err)
	_, err = s.Start()
	require.Error(t, err, "second start is refused")

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr.String() + "/healthz")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "ok\n", string(body))

	require.NoError(t, s.Shutdown(context.Background()))
	_, err = client.Get("http://" + addr.String() + "/healthz")
	assert.Error(t, err, "nothing listens after shutdown")
}

func TestServerShutdownBeforeStart(t *testing.T) {
	require.NoError(t, NewServer(ServerOptions{}).Shutdown(context.Background()))
}

func TestServerListenError(t *testing.T) {
	_, err := NewServer(ServerOptions{Addr: "256.0.0.1:bad"}).Start()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "metrics: listen on")
}
