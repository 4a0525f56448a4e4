package bridgetest

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

// sInstall is installation number i of the suite: a workspace of no
// enterprise for even i, a workspace of enterprise E1 for odd i.
func sInstall(i int) chat.Installation {
	in := chat.Installation{
		Platform:    "chat",
		TeamID:      "T" + string(rune('A'+i)),
		TeamName:    "team " + string(rune('A'+i)),
		AppID:       "A1",
		BotUserID:   "UBOT" + string(rune('A'+i)),
		Scopes:      []string{"app_mentions:read", "chat:write"},
		InstallerID: "U1",
		SealedToken: "sealed-" + string(rune('A'+i)),
		Installed:   st0.Add(time.Duration(i) * time.Minute),
	}
	if i%2 == 1 {
		in.EnterpriseID, in.EnterpriseName = "E1", "Grid"
	}
	return in
}

// sOrgInstall is an org-wide install of enterprise E1.
func sOrgInstall() chat.Installation {
	return chat.Installation{Platform: "chat", EnterpriseID: "E1", EnterpriseName: "Grid", OrgWide: true,
		BotUserID: "UORG", SealedToken: "sealed-org", Installed: st0}
}

func normInstall(in chat.Installation) chat.Installation {
	in.Installed = utc(in.Installed)
	in.BrokenAt = utc(in.BrokenAt)
	if len(in.Scopes) == 0 {
		in.Scopes = nil
	}
	return in
}

func installIDs(ins []chat.Installation) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID()
	}
	return out
}

// RunInstallationContract checks a chat.InstallationStore: records read back
// equal, ids of workspaces and org-wide installs, replacement on reinstall,
// ErrNotFound, refusal of invalid records, the MarkInstallationBroken
// compare-and-set (also between concurrent callers), cancelled contexts,
// calls after Close and the counts of Stats. RunStoreConformance runs it for
// every store that keeps installations.
func RunInstallationContract(t *testing.T, newStore func(t *testing.T) chat.InstallationStore) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, s chat.InstallationStore)
	}{
		{"PutGetListDelete", confInstallCRUD},
		{"Invalid", confInstallInvalid},
		{"MarkBroken", confInstallBroken},
		{"MarkBroken/ConcurrentCallers", confInstallBrokenConcurrent},
		{"CancelledContext", confInstallCancelled},
		{"Stats", confInstallStats},
		{"AfterClose", confInstallAfterClose},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

func confInstallCRUD(t *testing.T, s chat.InstallationStore) {
	ctx := t.Context()
	_, err := s.GetInstallation(ctx, sInstall(0).ID())
	require.ErrorIs(t, err, chat.ErrNotFound)
	assert.Contains(t, err.Error(), sInstall(0).ID(), "the error names the id")
	list, err := s.ListInstallations(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)

	for _, in := range []chat.Installation{sInstall(2), sOrgInstall(), sInstall(1), sInstall(0)} {
		require.NoError(t, s.PutInstallation(ctx, in))
	}
	for _, in := range []chat.Installation{sInstall(0), sInstall(1), sInstall(2), sOrgInstall()} {
		got, err := s.GetInstallation(ctx, in.ID())
		require.NoError(t, err, in.ID())
		assert.Equal(t, normInstall(in), normInstall(got))
	}
	list, err = s.ListInstallations(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"chat//TA", "chat//TC", "chat/E1/", "chat/E1/TB"}, installIDs(list), "id order")

	// A reinstall replaces the record: new token, broken cleared.
	_, ok, err := s.MarkInstallationBroken(ctx, sInstall(0).ID(), "sealed-A", "invalid_auth", st0)
	require.NoError(t, err)
	require.True(t, ok)
	again := sInstall(0)
	again.SealedToken, again.Scopes, again.Installed = "sealed-A2", []string{"chat:write"}, st0.Add(time.Hour)
	require.NoError(t, s.PutInstallation(ctx, again))
	got, err := s.GetInstallation(ctx, again.ID())
	require.NoError(t, err)
	assert.Equal(t, normInstall(again), normInstall(got))
	assert.Empty(t, got.Broken)

	require.NoError(t, s.DeleteInstallation(ctx, sOrgInstall().ID()))
	_, err = s.GetInstallation(ctx, sOrgInstall().ID())
	assert.ErrorIs(t, err, chat.ErrNotFound)
	err = s.DeleteInstallation(ctx, sOrgInstall().ID())
	assert.ErrorIs(t, err, chat.ErrNotFound, "a second delete")
	list, err = s.ListInstallations(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"chat//TA", "chat//TC", "chat/E1/TB"}, installIDs(list))
}

func confInstallInvalid(t *testing.T, s chat.InstallationStore) {
	ctx := t.Context()
	noToken := sInstall(0)
	noToken.SealedToken = ""
	noTeam := sInstall(0)
	noTeam.TeamID = ""
	orgNoEnterprise := sOrgInstall()
	orgNoEnterprise.EnterpriseID = ""
	noPlatform := sInstall(0)
	noPlatform.Platform = ""
	for name, in := range map[string]chat.Installation{
		"no token": noToken, "no team": noTeam, "org-wide without enterprise": orgNoEnterprise, "no platform": noPlatform,
	} {
		assert.Error(t, s.PutInstallation(ctx, in), name)
	}
	list, err := s.ListInstallations(ctx)
	require.NoError(t, err)
	assert.Empty(t, list, "nothing stored")
}

func confInstallBroken(t *testing.T, s chat.InstallationStore) {
	ctx := t.Context()
	_, _, err := s.MarkInstallationBroken(ctx, "chat//TX", "x", "invalid_auth", st0)
	require.ErrorIs(t, err, chat.ErrNotFound)

	in := sInstall(1)
	require.NoError(t, s.PutInstallation(ctx, in))
	// An answer to another token (a reinstall replaced it) marks nothing.
	got, ok, err := s.MarkInstallationBroken(ctx, in.ID(), "sealed-old", "invalid_auth", st0)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, got.Broken)

	at := st0.Add(time.Minute)
	got, ok, err = s.MarkInstallationBroken(ctx, in.ID(), in.SealedToken, "account_inactive", at)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "account_inactive", got.Broken)
	assert.True(t, got.BrokenAt.Equal(at))

	// Once broken, a second answer keeps the first reason.
	got, ok, err = s.MarkInstallationBroken(ctx, in.ID(), in.SealedToken, "invalid_auth", at.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, "account_inactive", got.Broken)
	stored, err := s.GetInstallation(ctx, in.ID())
	require.NoError(t, err)
	want := in
	want.Broken, want.BrokenAt = "account_inactive", at
	assert.Equal(t, normInstall(want), normInstall(stored))
}

func confInstallBrokenConcurrent(t *testing.T, s chat.InstallationStore) {
	ctx := t.Context()
	in := sInstall(0)
	require.NoError(t, s.PutInstallation(ctx, in))
	var wins atomic.Int32
	together(8, func(int) {
		_, ok, err := s.MarkInstallationBroken(ctx, in.ID(), in.SealedToken, "invalid_auth", st0)
		assert.NoError(t, err)
		if ok {
			wins.Add(1)
		}
	})
	assert.Equal(t, int32(1), wins.Load(), "exactly one caller marks it")
}

func confInstallCancelled(t *testing.T, s chat.InstallationStore) {
	ctx := t.Context()
	require.NoError(t, s.PutInstallation(ctx, sInstall(0)))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	calls := map[string]func() error{
		"Put":    func() error { return s.PutInstallation(cctx, sInstall(1)) },
		"Get":    func() error { _, err := s.GetInstallation(cctx, sInstall(0).ID()); return err },
		"List":   func() error { _, err := s.ListInstallations(cctx); return err },
		"Delete": func() error { return s.DeleteInstallation(cctx, sInstall(0).ID()) },
		"MarkBroken": func() error {
			_, _, err := s.MarkInstallationBroken(cctx, sInstall(0).ID(), sInstall(0).SealedToken, "invalid_auth", st0)
			return err
		},
	}
	for name, call := range calls {
		assert.ErrorIs(t, call(), context.Canceled, name)
	}
	list, err := s.ListInstallations(ctx)
	require.NoError(t, err)
	if assert.Len(t, list, 1, "nothing written or deleted") {
		assert.Equal(t, normInstall(sInstall(0)), normInstall(list[0]), "not marked broken")
	}
}

func confInstallStats(t *testing.T, s chat.InstallationStore) {
	sr, ok := s.(StatsReporter)
	if !ok {
		t.Skip("the store does not report Stats")
	}
	ctx := t.Context()
	for i := range 3 {
		require.NoError(t, s.PutInstallation(ctx, sInstall(i)))
	}
	_, _, err := s.MarkInstallationBroken(ctx, sInstall(2).ID(), sInstall(2).SealedToken, "invalid_auth", st0)
	require.NoError(t, err)
	st, err := sr.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, st.Installations)
	assert.Equal(t, 1, st.BrokenInstallations)
}

func confInstallAfterClose(t *testing.T, s chat.InstallationStore) {
	cl, ok := s.(io.Closer)
	if !ok {
		t.Skip("the store has no Close")
	}
	require.NoError(t, cl.Close())
	_, err := s.ListInstallations(t.Context())
	assert.ErrorIs(t, err, chat.ErrClosed)
	assert.ErrorIs(t, s.PutInstallation(t.Context(), sInstall(0)), chat.ErrClosed)
}
