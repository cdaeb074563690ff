package ratelimit

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// key names a shared bucket: an IP address (user empty) or a user name (ip zero).
type key struct {
	ip   netip.Addr
	user string
}

// entry is one shared bucket.
type entry struct {
	lim  *rate.Limiter
	last atomic.Int64 // unix nanoseconds: when it was last used, or when reserved tokens come
	gone atomic.Bool  // dropped from the table: connections holding it look again
}

// touch records a use of e at t, unless a later one is recorded.
func (e *entry) touch(t time.Time) {
	n := t.UnixNano()
	for {
		old := e.last.Load()
		if old >= n || e.last.CompareAndSwap(old, n) {
			return
		}
	}
}

// shards is the number of parts of a table, each with its own mutex.
const shards = 32

// table is the map of shared buckets, bounded in size and in idle time. Safe for
// concurrent use.
type table struct {
	shards   [shards]shard
	perShard int           // the most entries a shard keeps
	ttl      time.Duration // an entry unused this long is dropped
	every    time.Duration // how often each shard is swept, at most
	n        atomic.Int64  // entries in all shards
	cursor   atomic.Uint32 // the shard the next lookup sweeps besides its own
	newLim   func() *rate.Limiter
}

type shard struct {
	mu    sync.Mutex
	m     map[key]*entry
	swept int64 // unix nanoseconds of the last sweep
	_     [40]byte
}

func newTable(maxKeys int, ttl time.Duration, newLim func() *rate.Limiter) *table {
	t := &table{perShard: max(1, (maxKeys+shards-1)/shards), ttl: ttl, every: ttl / 2, newLim: newLim}
	for i := range t.shards {
		t.shards[i].m = map[key]*entry{}
	}
	return t
}

// get returns the entry of k, making it if needed, and records a use at now. It sweeps
// k's shard and one other, in turn, when they are due.
func (t *table) get(k key, now time.Time) *entry {
	ns := now.UnixNano()
	i := k.hash() % shards
	s := &t.shards[i]
	s.mu.Lock()
	e, ok := s.m[k]
	if !ok {
		t.sweep(s, ns)
		if len(s.m) >= t.perShard {
			t.evictOldest(s)
		}
		e = &entry{lim: t.newLim()}
		s.m[k] = e
		t.n.Add(1)
	}
	e.touch(now)
	s.mu.Unlock()
	if j := t.cursor.Add(1) % shards; j != i {
		o := &t.shards[j]
		o.mu.Lock()
		t.sweep(o, ns)
		o.mu.Unlock()
	}
	return e
}

// sweep drops the entries of s unused for ttl, if s is due. s.mu is held.
func (t *table) sweep(s *shard, now int64) {
	if now-s.swept < int64(t.every) {
		return
	}
	s.swept = now
	for k, e := range s.m {
		if now-e.last.Load() > int64(t.ttl) {
			t.drop(s, k, e)
		}
	}
}

// evictOldest drops the least recently used entry of s. s.mu is held.
func (t *table) evictOldest(s *shard) {
	var (
		oldK key
		oldE *entry
	)
	for k, e := range s.m {
		if oldE == nil || e.last.Load() < oldE.last.Load() {
			oldK, oldE = k, e
		}
	}
	if oldE != nil {
		t.drop(s, oldK, oldE)
	}
}

func (t *table) drop(s *shard, k key, e *entry) {
	delete(s.m, k)
	e.gone.Store(true)
	t.n.Add(-1)
}

// hash is FNV-1a over the address and the user name.
func (k key) hash() uint32 {
	const prime = 16777619
	h := uint32(2166136261)
	a := k.ip.As16()
	for _, b := range a {
		h = (h ^ uint32(b)) * prime
	}
	for i := 0; i < len(k.user); i++ {
		h = (h ^ uint32(k.user[i])) * prime
	}
	return h
}
