package slack

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedAPI is a webAPI whose auth.test answers come from a script.
type scriptedAPI struct {
	webAPI // nil: other calls are not expected
	mu     sync.Mutex
	errs   []error
	calls  int
}

func (s *scriptedAPI) AuthTestContext(context.Context) (*slack.AuthTestResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return nil, err
	}
	return &slack.AuthTestResponse{TeamID: "T1", UserID: "UB", BotID: "BB"}, nil
}

func TestIdentifyRetriesTransientErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &scriptedAPI{errs: []error{errors.New("dial tcp: connection refused"), slack.StatusCodeError{Code: 502, Status: "502 Bad Gateway"}}}
		a := newAdapter(validConfig(), api, nil)
		start := time.Now()
		require.NoError(t, a.identify(t.Context()))
		assert.Equal(t, 3, api.calls)
		assert.Equal(t, 3*time.Second, time.Since(start), "backoff 1 s then 2 s")
		assert.Equal(t, "UB", a.BotUserID())
		assert.True(t, a.self.Load().mentionRE.contains("<@UB> hi"))
	})
}

func TestIdentifyStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &scriptedAPI{errs: []error{errors.New("timeout"), errors.New("timeout")}}
		a := newAdapter(validConfig(), api, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		err := a.identify(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 2, api.calls)
	})
	synctest.Test(t, func(t *testing.T) {
		api := &scriptedAPI{errs: []error{slack.SlackErrorResponse{Err: "invalid_auth"}}}
		a := newAdapter(validConfig(), api, nil)
		err := a.identify(t.Context())
		require.ErrorIs(t, err, ErrAuth)
		assert.Equal(t, 1, api.calls, "no retry after an auth error")
	})
}

func TestAsAuthError(t *testing.T) {
	tests := []struct {
		err     error
		fatal   bool
		setting string
	}{
		{slack.SlackErrorResponse{Err: "invalid_auth"}, true, "slack.bot_token"},
		{slack.SlackErrorResponse{Err: "missing_scope"}, true, "slack.bot_token"},
		{errors.New("token_revoked"), true, "slack.bot_token"},
		{slack.StatusCodeError{Code: 404, Status: "404 Not Found"}, true, "slack.api_url"},
		{slack.StatusCodeError{Code: 403, Status: "403 Forbidden"}, true, "slack.bot_token"},
		{slack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}, false, ""},
		{slack.SlackErrorResponse{Err: "ratelimited"}, false, ""},
		{errors.New("dial tcp: i/o timeout"), false, ""},
		{nil, false, ""},
	}
	for _, tt := range tests {
		err := asAuthError("auth.test", "slack.bot_token", tt.err)
		if !tt.fatal {
			assert.NoError(t, err, "%v", tt.err)
			continue
		}
		require.ErrorIs(t, err, ErrAuth)
		assert.Contains(t, err.Error(), tt.setting)
		assert.Contains(t, err.Error(), "auth.test")
	}
}
