package slack

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// sealVersion prefixes every sealed token: "v1.<key id>.<nonce and ciphertext>".
const sealVersion = "v1"

// errUnknownKey means a token was sealed with a key slack.oauth.token_key
// no longer lists.
var errUnknownKey = errors.New("sealed with a key slack.oauth.token_key does not list")

// sealKey is one AES-256-GCM key and its id: the first 8 hex digits of the
// SHA-256 of the key, which names the key in a sealed token without
// revealing it.
type sealKey struct {
	id   string
	aead cipher.AEAD
}

// sealer seals bot tokens for the store with AES-256-GCM. Each token is
// bound to its installation's id (the additional data), so a sealed token
// copied into another installation's record does not open. The first key
// seals; every key opens.
type sealer struct {
	keys []sealKey
}

// parseKey decodes one key of slack.oauth.token_key: 32 bytes in standard
// or URL-safe base64. Its errors never show the key.
func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("must be 32 bytes in base64 (openssl rand -base64 32), got %d bytes", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("must be 32 bytes in base64 (openssl rand -base64 32); the value is not base64")
}

// newSealer builds the sealer of keys, newest first.
func newSealer(keys []string) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("slack: no token key")
	}
	s := &sealer{}
	for i, k := range keys {
		raw, err := parseKey(k)
		if err != nil {
			return nil, fmt.Errorf("slack.oauth.token_key[%d]: %w", i, err)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("slack.oauth.token_key[%d]: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("slack.oauth.token_key[%d]: %w", i, err)
		}
		sum := sha256.Sum256(raw)
		s.keys = append(s.keys, sealKey{id: hex.EncodeToString(sum[:4]), aead: aead})
	}
	return s, nil
}

// seal encrypts token for the installation id with the newest key.
func (s *sealer) seal(token, id string) (string, error) {
	k := s.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("slack: seal token: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, []byte(token), []byte(id))
	return sealVersion + "." + k.id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// open decrypts a token sealed for the installation id. Its errors never
// show the token.
func (s *sealer) open(sealed, id string) (string, error) {
	parts := strings.Split(sealed, ".")
	if len(parts) != 3 || parts[0] != sealVersion {
		return "", errors.New("slack: open token: not a sealed token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", errors.New("slack: open token: not a sealed token")
	}
	for _, k := range s.keys {
		if k.id != parts[1] {
			continue
		}
		n := k.aead.NonceSize()
		if len(raw) < n {
			return "", errors.New("slack: open token: too short")
		}
		tok, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(id))
		if err != nil {
			return "", errors.New("slack: open token: it does not open with its key (altered, or sealed for another installation)")
		}
		return string(tok), nil
	}
	return "", fmt.Errorf("slack: open token: %w (key id %s)", errUnknownKey, parts[1])
}

// current reports whether sealed was sealed with the newest key.
func (s *sealer) current(sealed string) bool {
	return strings.HasPrefix(sealed, sealVersion+"."+s.keys[0].id+".")
}
