package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/promptev/promptev-bridge/chat"
)

// PutFeedback records one user's rating of an answer; see
// chat.FeedbackStore. The upsert changes the row only for another value, so
// of concurrent callers with the same value exactly one reports changed.
func (s *Store) PutFeedback(ctx context.Context, f chat.FeedbackRecord) (chat.FeedbackValue, bool, error) {
	if err := s.check(ctx); err != nil {
		return "", false, err
	}
	if err := chat.CheckFeedback(f); err != nil {
		return "", false, fmt.Errorf("postgres: %w", err)
	}
	rec, err := json.Marshal(f)
	if err != nil {
		return "", false, s.err("put feedback", err)
	}
	var prev *string
	var changed int
	err = s.pool.QueryRow(ctx, `WITH prev AS (SELECT value FROM feedback WHERE answer = $1 AND user_id = $2),
		up AS (INSERT INTO feedback (answer, user_id, value, record) VALUES ($1, $2, $3, $4)
			ON CONFLICT (answer, user_id) DO UPDATE SET value = EXCLUDED.value, record = EXCLUDED.record
			WHERE feedback.value <> EXCLUDED.value RETURNING 1)
		SELECT (SELECT value FROM prev), (SELECT count(*) FROM up)`,
		f.Answer, f.User, string(f.Value), rec).Scan(&prev, &changed)
	if err != nil {
		return "", false, s.err(fmt.Sprintf("put feedback %s", f.Answer), err)
	}
	var p chat.FeedbackValue
	if prev != nil {
		p = chat.FeedbackValue(*prev)
	}
	return p, changed > 0, nil
}

// ListFeedback returns the ratings of answer, in user order.
func (s *Store) ListFeedback(ctx context.Context, answer string) ([]chat.FeedbackRecord, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT record FROM feedback WHERE answer = $1 ORDER BY user_id", answer)
	if err != nil {
		return nil, s.err("list feedback", err)
	}
	list, err := collectRecords[chat.FeedbackRecord](rows)
	if err != nil {
		return nil, s.err("list feedback", err)
	}
	if list == nil {
		list = []chat.FeedbackRecord{}
	}
	return list, nil
}
