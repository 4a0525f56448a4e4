package bolt

import (
	"context"
	"fmt"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

// grantID is a grant's key: the conversation key, a NUL, the tool (neither
// holds a NUL), so a conversation's grants are adjacent.
func grantID(key chat.ConversationKey, tool string) []byte {
	return []byte(key.String() + "\x00" + tool)
}

// putGrant writes g in tx (DecideApprovalWith's transaction).
func putGrant(tx *bbolt.Tx, sc schema, g chat.Grant) error {
	v, err := encode(sc, kindGrants, g)
	if err != nil {
		return err
	}
	return bucketGrants.in(tx).Put(grantID(g.Key, g.Tool), v)
}

// PutGrant creates or replaces the grant of g.Tool in g.Key (for `store
// copy`; the bridge grants through DecideApprovalWith).
func (s *Store) PutGrant(ctx context.Context, g chat.Grant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !g.Key.Valid() || g.Tool == "" {
		return fmt.Errorf("store: put grant: invalid key %q or empty tool %q", g.Key, g.Tool)
	}
	if err := s.update(func(tx *bbolt.Tx) error { return putGrant(tx, s.schema, g) }); err != nil {
		return fmt.Errorf("store: put grant of %q in %s: %w", g.Tool, g.Key, err)
	}
	return nil
}

// GetGrant returns the grant of tool in key, or an error wrapping
// chat.ErrNotFound.
func (s *Store) GetGrant(ctx context.Context, key chat.ConversationKey, tool string) (chat.Grant, error) {
	if err := ctx.Err(); err != nil {
		return chat.Grant{}, err
	}
	k := grantID(key, tool)
	var g chat.Grant
	err := s.view(func(tx *bbolt.Tx) error {
		b := bucketGrants.in(tx)
		var raw []byte
		if b != nil { // nil in a file not yet opened by a bridge with grants
			raw = b.Get(k)
		}
		if raw == nil {
			return fmt.Errorf("store: grant of %q in %s: %w", tool, key, chat.ErrNotFound)
		}
		return decode(s.schema, kindGrants, k, raw, &g)
	})
	if err != nil {
		return chat.Grant{}, err
	}
	return g, nil
}

// ListGrants returns every grant, by conversation then tool.
func (s *Store) ListGrants(ctx context.Context) ([]chat.Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []chat.Grant
	err := s.view(func(tx *bbolt.Tx) error {
		b := bucketGrants.in(tx)
		if b == nil { // a file not yet opened by a bridge with grants
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var g chat.Grant
			if err := decode(s.schema, kindGrants, k, v, &g); err != nil {
				return err
			}
			out = append(out, g)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list grants: %w", err)
	}
	return out, nil
}

// DeleteGrant revokes the grant of tool in key, or returns an error
// wrapping chat.ErrNotFound.
func (s *Store) DeleteGrant(ctx context.Context, key chat.ConversationKey, tool string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := grantID(key, tool)
	err := s.update(func(tx *bbolt.Tx) error {
		b := bucketGrants.in(tx)
		if b.Get(k) == nil {
			return fmt.Errorf("grant of %q in %s: %w", tool, key, chat.ErrNotFound)
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("store: delete grant: %w", err)
	}
	return nil
}
