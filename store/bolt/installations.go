package bolt

import (
	"context"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

var _ chat.InstallationBackend = (*Store)(nil)

// PutInstallation creates or replaces the installation in.ID(). The record
// holds the sealed token only: the adapter encrypts it before it gets here.
func (s *Store) PutInstallation(ctx context.Context, in chat.Installation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return fmt.Errorf("store: put installation: %w", err)
	}
	v, err := encode(s.schema, kindInstallations, in)
	if err != nil {
		return err
	}
	err = s.update(func(tx *bbolt.Tx) error { return bucketInstallations.in(tx).Put([]byte(in.ID()), v) })
	if err != nil {
		return fmt.Errorf("store: put installation %s: %w", in.ID(), err)
	}
	return nil
}

// getInstallation reads the installation id in tx, or chat.ErrNotFound.
func (s *Store) getInstallation(tx *bbolt.Tx, id string) (chat.Installation, error) {
	var in chat.Installation
	var raw []byte
	if b := bucketInstallations.in(tx); b != nil { // nil in a file not yet opened by a bridge with installations
		raw = b.Get([]byte(id))
	}
	if raw == nil {
		return in, fmt.Errorf("store: installation %s: %w", id, chat.ErrNotFound)
	}
	return in, decode(s.schema, kindInstallations, []byte(id), raw, &in)
}

// GetInstallation returns the installation id, or an error wrapping
// chat.ErrNotFound.
func (s *Store) GetInstallation(ctx context.Context, id string) (chat.Installation, error) {
	if err := ctx.Err(); err != nil {
		return chat.Installation{}, err
	}
	var in chat.Installation
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		in, err = s.getInstallation(tx, id)
		return err
	})
	if err != nil {
		return chat.Installation{}, err
	}
	return in, nil
}

// ListInstallations returns every installation, in id order.
func (s *Store) ListInstallations(ctx context.Context) ([]chat.Installation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []chat.Installation
	err := s.view(func(tx *bbolt.Tx) error {
		return eachInstallation(tx, s.schema, func(in chat.Installation) error {
			out = append(out, in)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list installations: %w", err)
	}
	return out, nil
}

// eachInstallation calls fn with every installation in tx, in id order.
func eachInstallation(tx *bbolt.Tx, sc schema, fn func(chat.Installation) error) error {
	b := bucketInstallations.in(tx)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var in chat.Installation
		if err := decode(sc, kindInstallations, k, v, &in); err != nil {
			return err
		}
		return fn(in)
	})
}

// DeleteInstallation removes the installation id, or returns an error
// wrapping chat.ErrNotFound.
func (s *Store) DeleteInstallation(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.update(func(tx *bbolt.Tx) error {
		b := bucketInstallations.in(tx)
		if b.Get([]byte(id)) == nil {
			return fmt.Errorf("installation %s: %w", id, chat.ErrNotFound)
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("store: delete installation: %w", err)
	}
	return nil
}

// MarkInstallationBroken marks the installation id broken when it is
// healthy and still holds sealedToken, in one write transaction.
func (s *Store) MarkInstallationBroken(ctx context.Context, id, sealedToken, reason string, at time.Time) (chat.Installation, bool, error) {
	if err := ctx.Err(); err != nil {
		return chat.Installation{}, false, err
	}
	var (
		in     chat.Installation
		marked bool
	)
	err := s.update(func(tx *bbolt.Tx) error {
		var err error
		if in, err = s.getInstallation(tx, id); err != nil {
			return err
		}
		marked = false
		if in.SealedToken != sealedToken || in.Broken != "" {
			return nil
		}
		in.Broken, in.BrokenAt = reason, at
		v, err := encode(s.schema, kindInstallations, in)
		if err != nil {
			return err
		}
		marked = true
		return bucketInstallations.in(tx).Put([]byte(id), v)
	})
	if err != nil {
		return chat.Installation{}, false, fmt.Errorf("store: mark installation broken: %w", err)
	}
	return in, marked, nil
}
