package bolt

import (
	"context"
	"fmt"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

// GetConversation returns the conversation stored under key, or an error
// wrapping chat.ErrNotFound.
func (s *Store) GetConversation(ctx context.Context, key chat.ConversationKey) (chat.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return chat.Conversation{}, err
	}
	k := []byte(key.String())
	var c chat.Conversation
	err := s.view(func(tx *bbolt.Tx) error {
		raw := bucketConversations.in(tx).Get(k)
		if raw == nil {
			return fmt.Errorf("store: conversation %s: %w", key, chat.ErrNotFound)
		}
		return decode(s.schema, kindConversations, k, raw, &c)
	})
	if err != nil {
		return chat.Conversation{}, err
	}
	return c, nil
}

// PutConversation creates or replaces the conversation stored under c.Key.
// Concurrent calls share fsynced commits (bbolt's Batch).
func (s *Store) PutConversation(ctx context.Context, c chat.Conversation) error {
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
func (s *Store) DeleteConversation(ctx context.Context, key chat.ConversationKey) error {
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
