package store

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/promptev/promptev-bridge/bridge"
)

// GetConversation returns the conversation stored under key, or an error
// wrapping bridge.ErrNotFound.
func (s *Store) GetConversation(ctx context.Context, key bridge.ConversationKey) (bridge.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return bridge.Conversation{}, err
	}
	k := []byte(key.String())
	var c bridge.Conversation
	err := s.view(func(tx *bbolt.Tx) error {
		raw := bucketConversations.in(tx).Get(k)
		if raw == nil {
			return fmt.Errorf("store: conversation %s: %w", key, bridge.ErrNotFound)
		}
		if decodeConversationFast(raw, s.schema.version(kindConversations), &c) {
			return nil
		}
		return decode(s.schema, kindConversations, k, raw, &c)
	})
	if err != nil {
		return bridge.Conversation{}, err
	}
	return c, nil
}

// PutConversation creates or replaces the conversation stored under c.Key.
// Concurrent calls share fsynced commits (bbolt's Batch).
func (s *Store) PutConversation(ctx context.Context, c bridge.Conversation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !c.Key.Valid() {
		return fmt.Errorf("store: put conversation: invalid key %q", c.Key)
	}
	k := []byte(c.Key.String())
	v, err := encode(s.schema, kindConversations, c)
	if err != nil {
		return err
	}
	// Idempotent: a repeated run puts the same bytes.
	if err := s.write(func(tx *bbolt.Tx) error {
		return bucketConversations.in(tx).Put(k, v)
	}); err != nil {
		return fmt.Errorf("store: put conversation %s: %w", c.Key, err)
	}
	return nil
}

// DeleteConversation removes the conversation stored under key. Deleting an
// unknown key is not an error.
func (s *Store) DeleteConversation(ctx context.Context, key bridge.ConversationKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := []byte(key.String())
	if err := s.write(func(tx *bbolt.Tx) error {
		return bucketConversations.in(tx).Delete(k)
	}); err != nil {
		return fmt.Errorf("store: delete conversation %s: %w", key, err)
	}
	return nil
}
