package slack

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// stateTTL is how long an install's state is accepted.
const stateTTL = 10 * time.Minute

// Why a state is refused.
var (
	errStateInvalid  = errors.New("the install link was altered or is not from this bridge")
	errStateExpired  = errors.New("the install link expired (it lasts 10 minutes)")
	errStateReplayed = errors.New("the install link was already used")
)

// stateLedger remembers used states across every replica: the store's
// dedupe ledger (chat.Store.SeenOrMark).
type stateLedger interface {
	SeenOrMark(ctx context.Context, keys []string, ttl time.Duration, now time.Time) (bool, error)
}

// states mints and checks the OAuth state of installs: 16 random bytes and
// the expiry, signed with HMAC-SHA256 under a key derived from the client
// secret (which every replica has). A state is accepted once, before its
// expiry.
type states struct {
	key []byte
}

func newStates(clientSecret string) states {
	m := hmac.New(sha256.New, []byte(clientSecret))
	m.Write([]byte("promptev-bridge slack oauth state"))
	return states{key: m.Sum(nil)}
}

// mint returns a new state expiring stateTTL after now.
func (s states) mint(now time.Time) (string, error) {
	payload := make([]byte, 16+8)
	if _, err := rand.Read(payload[:16]); err != nil {
		return "", fmt.Errorf("slack: oauth state: %w", err)
	}
	binary.BigEndian.PutUint64(payload[16:], uint64(now.Add(stateTTL).Unix()))
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

func (s states) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)
}

// check verifies state's signature and expiry, then marks it used in the
// ledger: a second check of one state fails with errStateReplayed.
func (s states) check(ctx context.Context, ledger stateLedger, state string, now time.Time) error {
	p, sig, ok := strings.Cut(state, ".")
	if !ok {
		return errStateInvalid
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || len(payload) != 24 || !hmac.Equal(mac, s.mac(payload)) {
		return errStateInvalid
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[16:])), 0)
	if !now.Before(exp) {
		return errStateExpired
	}
	seen, err := ledger.SeenOrMark(ctx, []string{"slack:oauth_state:" + hex.EncodeToString(payload[:16])}, stateTTL+time.Minute, now)
	if err != nil {
		return fmt.Errorf("slack: oauth state: %w", err)
	}
	if seen {
		return errStateReplayed
	}
	return nil
}
