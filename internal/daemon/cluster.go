package daemon

import (
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// leaseUser is an adapter that shares work with the other replicas of a
// shared store through its leases: the Discord adapter claims its shards
// so that each runs in one replica at a time.
type leaseUser interface {
	SetLeaser(l chat.Leaser, owner string, ttl time.Duration)
}

// shareLeaser hands st to every adapter that uses leases when st hands them
// out (a store several replicas share, such as PostgreSQL), with this
// replica's name and the leases' time to live, and returns how many took
// it. With a store that does not (bbolt), adapters run alone.
func shareLeaser(st any, adapters []chat.Adapter, owner string, ttl time.Duration) int {
	l, ok := st.(chat.Leaser)
	if !ok {
		return 0
	}
	n := 0
	for _, a := range adapters {
		if u, ok := a.(leaseUser); ok {
			u.SetLeaser(l, owner, ttl)
			n++
		}
	}
	return n
}
