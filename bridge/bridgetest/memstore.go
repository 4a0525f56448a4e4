package bridgetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// MemStore is an in-memory chat.Store with the exact Store semantics
// (ErrNotFound, the DecideApproval compare-and-set, dedupe expiry); it passes
// RunStoreConformance. It is safe for concurrent use. Records are copied in
// and out.
type MemStore struct {
	mu            sync.Mutex
	closed        bool
	conversations map[chat.ConversationKey]chat.Conversation
	approvals     map[string]chat.Approval
	runs          map[chat.ConversationKey]chat.InFlightRun
	runRecords    map[string]chat.RunRecord
	grants        map[grantKey]chat.Grant
	dedupe        map[string]time.Time                      // key -> expiry
	feedback      map[string]map[string]chat.FeedbackRecord // answer -> user -> record
	installations map[string]chat.Installation              // id -> installation
}

var (
	_ chat.Store    = (*MemStore)(nil)
	_ StatsReporter = (*MemStore)(nil)
)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{
		conversations: make(map[chat.ConversationKey]chat.Conversation),
		approvals:     make(map[string]chat.Approval),
		runs:          make(map[chat.ConversationKey]chat.InFlightRun),
		runRecords:    make(map[string]chat.RunRecord),
		grants:        make(map[grantKey]chat.Grant),
		dedupe:        make(map[string]time.Time),
		feedback:      make(map[string]map[string]chat.FeedbackRecord),
	}
}

// lock takes the store's lock unless ctx is done or the store is closed;
// the caller unlocks s.mu.
func (s *MemStore) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return chat.ErrClosed
	}
	return nil
}

// Close makes every later call fail with chat.ErrClosed. It is safe to call
// more than once.
func (s *MemStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Stats counts what the store holds; see chat.StoreStats. Its Backend is
// "memory", with no location.
func (s *MemStore) Stats(ctx context.Context) (chat.StoreStats, error) {
	if err := s.lock(ctx); err != nil {
		return chat.StoreStats{}, err
	}
	defer s.mu.Unlock()
	st := chat.StoreStats{Backend: "memory", At: time.Now(), Conversations: len(s.conversations), Approvals: len(s.approvals)}
	for _, a := range s.approvals {
		if a.State == chat.ApprovalPending {
			st.PendingApprovals++
			if st.NextApprovalExpiry.IsZero() || a.Expires.Before(st.NextApprovalExpiry) {
				st.NextApprovalExpiry = a.Expires
			}
		}
	}
	runs := s.sortedRunsLocked()
	st.Runs = len(runs)
	if len(runs) > 0 {
		st.OldestRun = &runs[0]
	}
	st.DedupeEntries = len(s.dedupe)
	st.RunRecords = len(s.runRecords)
	st.Grants = len(s.grants)
	s.countInstallationsLocked(&st)
	for _, exp := range s.dedupe {
		if !exp.After(st.At) {
			st.DedupeExpired++
		}
	}
	return st, nil
}

// approvalLocked returns the approval id, or chat.ErrNotFound. s.mu is held.
func (s *MemStore) approvalLocked(id string) (chat.Approval, error) {
	a, ok := s.approvals[id]
	if !ok {
		return chat.Approval{}, fmt.Errorf("approval %s: %w", id, chat.ErrNotFound)
	}
	return a, nil
}

// GetConversation returns the conversation of key, or chat.ErrNotFound.
func (s *MemStore) GetConversation(ctx context.Context, key chat.ConversationKey) (chat.Conversation, error) {
	if err := s.lock(ctx); err != nil {
		return chat.Conversation{}, err
	}
	defer s.mu.Unlock()
	c, ok := s.conversations[key]
	if !ok {
		return chat.Conversation{}, fmt.Errorf("conversation %s: %w", key, chat.ErrNotFound)
	}
	return c, nil
}

// PutConversation stores c under c.Key.
func (s *MemStore) PutConversation(ctx context.Context, c chat.Conversation) error {
	if !c.Key.Valid() {
		return fmt.Errorf("bridgetest: put conversation: invalid key %q", c.Key.String())
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.conversations[c.Key] = c
	return nil
}

// DeleteConversation removes the conversation of key (no error when absent).
func (s *MemStore) DeleteConversation(ctx context.Context, key chat.ConversationKey) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.conversations, key)
	return nil
}

// PutApproval stores a under a.ID.
func (s *MemStore) PutApproval(ctx context.Context, a chat.Approval) error {
	if a.ID == "" {
		return fmt.Errorf("bridgetest: put approval: empty id")
	}
	switch a.State {
	case chat.ApprovalPending, chat.ApprovalApproved, chat.ApprovalDenied, chat.ApprovalExpired:
	default:
		return fmt.Errorf("bridgetest: put approval %s: invalid state %q", a.ID, a.State)
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.approvals[a.ID] = a
	return nil
}

// GetApproval returns the approval id, or chat.ErrNotFound.
func (s *MemStore) GetApproval(ctx context.Context, id string) (chat.Approval, error) {
	if err := s.lock(ctx); err != nil {
		return chat.Approval{}, err
	}
	defer s.mu.Unlock()
	a, err := s.approvalLocked(id)
	if err != nil {
		return chat.Approval{}, err
	}
	return a, nil
}

// SetApprovalCard records card on the approval id and returns the record as it
// now is, decision untouched; see chat.Store.
func (s *MemStore) SetApprovalCard(ctx context.Context, id string, card chat.MessageRef) (chat.Approval, error) {
	if err := s.lock(ctx); err != nil {
		return chat.Approval{}, err
	}
	defer s.mu.Unlock()
	a, err := s.approvalLocked(id)
	if err != nil {
		return chat.Approval{}, err
	}
	a.Card = card
	s.approvals[id] = a
	return a, nil
}

// DecideApproval moves a pending approval to state exactly once; see chat.Store.
func (s *MemStore) DecideApproval(ctx context.Context, id string, state chat.ApprovalState, by, byName string, at time.Time) (chat.Approval, bool, error) {
	return s.DecideApprovalWith(ctx, id, chat.ApprovalDecision{State: state, By: by, ByName: byName, At: at})
}

// DecideApprovalWith moves a pending approval to d.State exactly once,
// recording d; see chat.Store.
func (s *MemStore) DecideApprovalWith(ctx context.Context, id string, d chat.ApprovalDecision) (chat.Approval, bool, error) {
	switch d.State {
	case chat.ApprovalApproved, chat.ApprovalDenied, chat.ApprovalExpired, chat.ApprovalStopped:
	default:
		return chat.Approval{}, false, fmt.Errorf("bridgetest: decide approval %s: invalid state %q", id, d.State)
	}
	if err := s.lock(ctx); err != nil {
		return chat.Approval{}, false, err
	}
	defer s.mu.Unlock()
	a, err := s.approvalLocked(id)
	if err != nil {
		return chat.Approval{}, false, err
	}
	if a.Decided() {
		return a, false, nil
	}
	a.State = d.State
	a.DecidedBy = d.By
	a.DecidedByName = d.ByName
	a.DecidedAt = d.At
	a.Reason = d.Reason
	if d.Grant && d.State == chat.ApprovalApproved && a.Tool != "" {
		a.Granted = true
		s.grants[grantKey{a.Key, a.Tool}] = chat.Grant{Key: a.Key, Tool: a.Tool, By: d.By, ByName: d.ByName, Approval: a.ID, Created: d.At}
	}
	s.approvals[id] = a
	return a, true, nil
}

// ListExpiredApprovals returns up to limit pending approvals whose Expires is
// not after now, soonest expiry first.
func (s *MemStore) ListExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]chat.Approval, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []chat.Approval
	for _, a := range s.approvals {
		if a.State == chat.ApprovalPending && !a.Expires.After(now) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Expires.Equal(out[j].Expires) {
			return out[i].Expires.Before(out[j].Expires)
		}
		return out[i].ID < out[j].ID
	})
	if limit <= 0 {
		limit = chat.DefaultBatchLimit
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// PutRun records an in-flight run of r.Key (replacing an earlier one).
func (s *MemStore) PutRun(ctx context.Context, r chat.InFlightRun) error {
	if !r.Key.Valid() {
		return fmt.Errorf("bridgetest: put run: invalid key %q", r.Key.String())
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.runs[r.Key] = r
	return nil
}

// DeleteRun forgets the in-flight run of key (no error when absent).
func (s *MemStore) DeleteRun(ctx context.Context, key chat.ConversationKey) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.runs, key)
	return nil
}

// ListRuns returns every in-flight run, oldest first.
func (s *MemStore) ListRuns(ctx context.Context) ([]chat.InFlightRun, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.sortedRunsLocked(), nil
}

// sortedRunsLocked returns the runs oldest first, then by key. s.mu is held.
func (s *MemStore) sortedRunsLocked() []chat.InFlightRun {
	out := make([]chat.InFlightRun, 0, len(s.runs))
	for _, r := range s.runs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.Before(out[j].Started)
		}
		return out[i].Key.String() < out[j].Key.String()
	})
	return out
}

// SeenOrMark atomically checks and marks the dedupe keys of one message; see
// chat.Store.
func (s *MemStore) SeenOrMark(ctx context.Context, keys []string, ttl time.Duration, now time.Time) (bool, error) {
	switch {
	case len(keys) == 0:
		return false, errors.New("bridgetest: seen or mark: no keys")
	case slices.Contains(keys, ""):
		return false, fmt.Errorf("bridgetest: seen or mark %q: empty key", keys)
	case ttl <= 0:
		return false, fmt.Errorf("bridgetest: seen or mark %q: ttl must be positive, got %s", keys, ttl)
	}
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	seen := false
	var mark []string
	for _, k := range keys {
		if exp, ok := s.dedupe[k]; ok && exp.After(now) {
			seen = true
		} else {
			mark = append(mark, k)
		}
	}
	for _, k := range mark {
		s.dedupe[k] = now.Add(ttl)
	}
	return seen, nil
}

// SweepDedupe deletes up to limit expired dedupe entries and returns how many.
func (s *MemStore) SweepDedupe(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if limit <= 0 {
		limit = chat.DefaultBatchLimit
	}
	n := 0
	for k, exp := range s.dedupe {
		if n >= limit {
			break
		}
		if !exp.After(now) {
			delete(s.dedupe, k)
			n++
		}
	}
	return n, nil
}

// PutFeedback records one user's rating of an answer; see chat.FeedbackStore.
func (s *MemStore) PutFeedback(ctx context.Context, f chat.FeedbackRecord) (chat.FeedbackValue, bool, error) {
	if err := chat.CheckFeedback(f); err != nil {
		return "", false, err
	}
	if err := s.lock(ctx); err != nil {
		return "", false, err
	}
	defer s.mu.Unlock()
	byUser := s.feedback[f.Answer]
	if byUser == nil {
		byUser = map[string]chat.FeedbackRecord{}
		s.feedback[f.Answer] = byUser
	}
	prev := byUser[f.User].Value
	if prev == f.Value {
		return prev, false, nil
	}
	byUser[f.User] = f
	return prev, true, nil
}

// ListFeedback returns the ratings of answer, in user order.
func (s *MemStore) ListFeedback(ctx context.Context, answer string) ([]chat.FeedbackRecord, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]chat.FeedbackRecord, 0, len(s.feedback[answer]))
	for _, f := range s.feedback[answer] {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out, nil
}
