package chat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLeaseRenewal(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, 3 * time.Second, 15 * time.Second, 10 * time.Minute} {
		every, held := LeaseRenewal(ttl)
		assert.Equal(t, ttl/3, every, "ttl %s", ttl)
		assert.Equal(t, ttl*4/5, held, "ttl %s", ttl)
		// A renewal that fails once leaves a round before the holder must
		// stop assuming it holds the lease, and that is before it expires.
		assert.Less(t, 2*every, held, "ttl %s", ttl)
		assert.Less(t, held, ttl, "ttl %s", ttl)
	}
}
