package bolt

import (
	"bytes"
	"context"
	"fmt"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

// feedbackKey is a rating's key: the answer id, a zero byte, the user.
func feedbackKey(answer, user string) []byte {
	return append(feedbackPrefix(answer), user...)
}

func feedbackPrefix(answer string) []byte { return append([]byte(answer), 0) }

// PutFeedback records one user's rating of an answer; see chat.FeedbackStore.
func (s *Store) PutFeedback(ctx context.Context, f chat.FeedbackRecord) (chat.FeedbackValue, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if err := chat.CheckFeedback(f); err != nil {
		return "", false, fmt.Errorf("store: %w", err)
	}
	k := feedbackKey(f.Answer, f.User)
	v, err := encode(s.schema, kindFeedback, f)
	if err != nil {
		return "", false, err
	}
	var prev chat.FeedbackValue
	changed := false
	err = s.update(func(tx *bbolt.Tx) error {
		b := bucketFeedback.in(tx)
		if raw := b.Get(k); raw != nil {
			var old chat.FeedbackRecord
			if err := decode(s.schema, kindFeedback, k, raw, &old); err != nil {
				return err
			}
			prev = old.Value
		}
		if prev == f.Value {
			return nil
		}
		changed = true
		return b.Put(k, v)
	})
	if err != nil {
		return "", false, fmt.Errorf("store: put feedback %s: %w", f.Answer, err)
	}
	return prev, changed, nil
}

// ListFeedback returns the ratings of answer, in user order.
func (s *Store) ListFeedback(ctx context.Context, answer string) ([]chat.FeedbackRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []chat.FeedbackRecord{}
	prefix := feedbackPrefix(answer)
	err := s.view(func(tx *bbolt.Tx) error {
		b := bucketFeedback.in(tx)
		if b == nil { // a read-only file from before feedback
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var f chat.FeedbackRecord
			if err := decode(s.schema, kindFeedback, k, v, &f); err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list feedback %s: %w", answer, err)
	}
	return out, nil
}
