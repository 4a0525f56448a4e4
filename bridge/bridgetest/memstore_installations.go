package bridgetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

var _ chat.InstallationBackend = (*MemStore)(nil)

// PutInstallation creates or replaces the installation in.ID().
func (s *MemStore) PutInstallation(ctx context.Context, in chat.Installation) error {
	if err := in.Validate(); err != nil {
		return fmt.Errorf("bridgetest: put installation: %w", err)
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.installations == nil {
		s.installations = make(map[string]chat.Installation)
	}
	in.Scopes = slices.Clone(in.Scopes)
	s.installations[in.ID()] = in
	return nil
}

// GetInstallation returns the installation id, or chat.ErrNotFound.
func (s *MemStore) GetInstallation(ctx context.Context, id string) (chat.Installation, error) {
	if err := s.lock(ctx); err != nil {
		return chat.Installation{}, err
	}
	defer s.mu.Unlock()
	in, ok := s.installations[id]
	if !ok {
		return chat.Installation{}, fmt.Errorf("installation %s: %w", id, chat.ErrNotFound)
	}
	in.Scopes = slices.Clone(in.Scopes)
	return in, nil
}

// ListInstallations returns every installation, in id order.
func (s *MemStore) ListInstallations(ctx context.Context) ([]chat.Installation, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]chat.Installation, 0, len(s.installations))
	for _, in := range s.installations {
		in.Scopes = slices.Clone(in.Scopes)
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}

// DeleteInstallation removes the installation id, or returns chat.ErrNotFound.
func (s *MemStore) DeleteInstallation(ctx context.Context, id string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.installations[id]; !ok {
		return fmt.Errorf("installation %s: %w", id, chat.ErrNotFound)
	}
	delete(s.installations, id)
	return nil
}

// MarkInstallationBroken marks the installation id broken when it is
// healthy and still holds sealedToken.
func (s *MemStore) MarkInstallationBroken(ctx context.Context, id, sealedToken, reason string, at time.Time) (chat.Installation, bool, error) {
	if err := s.lock(ctx); err != nil {
		return chat.Installation{}, false, err
	}
	defer s.mu.Unlock()
	in, ok := s.installations[id]
	if !ok {
		return chat.Installation{}, false, fmt.Errorf("installation %s: %w", id, chat.ErrNotFound)
	}
	if in.SealedToken != sealedToken || in.Broken != "" {
		return in, false, nil
	}
	in.Broken, in.BrokenAt = reason, at
	s.installations[id] = in
	return in, true, nil
}

// countInstallationsLocked fills the installation counts of st. s.mu is held.
func (s *MemStore) countInstallationsLocked(st *chat.StoreStats) {
	st.Installations = len(s.installations)
	for _, in := range s.installations {
		if in.Broken != "" {
			st.BrokenInstallations++
		}
	}
}
