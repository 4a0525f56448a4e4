package bridgetest

import (
	"context"
	"fmt"
	"sort"

	"github.com/promptev/promptev-bridge/chat"
)

// grantKey addresses a grant: a tool in a conversation.
type grantKey struct {
	key  chat.ConversationKey
	tool string
}

// GetGrant returns the grant of tool in key, or chat.ErrNotFound.
func (s *MemStore) GetGrant(ctx context.Context, key chat.ConversationKey, tool string) (chat.Grant, error) {
	if err := s.lock(ctx); err != nil {
		return chat.Grant{}, err
	}
	defer s.mu.Unlock()
	g, ok := s.grants[grantKey{key, tool}]
	if !ok {
		return chat.Grant{}, fmt.Errorf("grant of %s in %s: %w", tool, key, chat.ErrNotFound)
	}
	return g, nil
}

// ListGrants returns every grant, by conversation then tool.
func (s *MemStore) ListGrants(ctx context.Context) ([]chat.Grant, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]chat.Grant, 0, len(s.grants))
	for _, g := range s.grants {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if ki, kj := out[i].Key.String(), out[j].Key.String(); ki != kj {
			return ki < kj
		}
		return out[i].Tool < out[j].Tool
	})
	return out, nil
}

// DeleteGrant revokes the grant of tool in key, or returns chat.ErrNotFound.
func (s *MemStore) DeleteGrant(ctx context.Context, key chat.ConversationKey, tool string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	k := grantKey{key, tool}
	if _, ok := s.grants[k]; !ok {
		return fmt.Errorf("grant of %s in %s: %w", tool, key, chat.ErrNotFound)
	}
	delete(s.grants, k)
	return nil
}
