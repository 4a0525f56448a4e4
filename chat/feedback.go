package chat

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Feedback is the action kind of a final answer's 👍/👎 buttons; its target
// is FeedbackTarget(answer, value).
const Feedback ActionKind = "feedback"

// FeedbackValue is a rating of an answer.
type FeedbackValue string

// Feedback values.
const (
	FeedbackUp   FeedbackValue = "up"
	FeedbackDown FeedbackValue = "down"
)

// Valid reports whether v is up or down.
func (v FeedbackValue) Valid() bool { return v == FeedbackUp || v == FeedbackDown }

// FeedbackTarget is the target a feedback button carries: the answer's id
// (its run's id) and the value, as "ANSWER:VALUE".
func FeedbackTarget(answer string, v FeedbackValue) string { return answer + ":" + string(v) }

// ParseFeedbackTarget reads a FeedbackTarget.
func ParseFeedbackTarget(s string) (answer string, v FeedbackValue, err error) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			answer, v = s[:i], FeedbackValue(s[i+1:])
			break
		}
	}
	if answer == "" || !v.Valid() {
		return "", "", fmt.Errorf("chat: feedback target %q is not ANSWER:up or ANSWER:down", s)
	}
	return answer, v, nil
}

// FeedbackRecord is one person's rating of one answer.
type FeedbackRecord struct {
	// Answer is the id of the rated answer (its run's id).
	Answer string `json:"answer"`
	// Key is the answer's conversation.
	Key ConversationKey `json:"key"`
	// User is the platform user id of the person who rated.
	User  string        `json:"user"`
	Value FeedbackValue `json:"value"`
	At    time.Time     `json:"at"`
}

// FeedbackStore is the part of Store that keeps feedback.
type FeedbackStore interface {
	// PutFeedback records f as f.User's rating of f.Answer: one record per
	// user per answer. It returns the value recorded before ("" when none)
	// and whether this call changed the record: a first rating, or another
	// value, changes it (and its At); the same value again changes
	// nothing. Of concurrent calls with the same answer, user and value,
	// exactly one reports changed. It fails for an empty answer or user or
	// an invalid value.
	PutFeedback(ctx context.Context, f FeedbackRecord) (prev FeedbackValue, changed bool, err error)
	// ListFeedback returns the ratings of answer, in user order.
	ListFeedback(ctx context.Context, answer string) ([]FeedbackRecord, error)
}

// CheckFeedback returns the error every store answers PutFeedback with
// for an invalid record (empty answer or user, invalid value), or nil.
func CheckFeedback(f FeedbackRecord) error {
	switch {
	case f.Answer == "":
		return errors.New("put feedback: empty answer id")
	case f.User == "":
		return fmt.Errorf("put feedback %s: empty user", f.Answer)
	case !f.Value.Valid():
		return fmt.Errorf("put feedback %s: invalid value %q", f.Answer, f.Value)
	}
	return nil
}
