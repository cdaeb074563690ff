package ratelimit

import (
	"context"
	"math"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

func mustNew(t *testing.T, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func ipKey(a, b, c, d byte) key { return key{ip: netip.AddrFrom4([4]byte{a, b, c, d})} }

// TestIdleKeysDropped: buckets of many distinct IPs are dropped once they have been idle
// for IdleTTL, with a fake clock.
func TestIdleKeysDropped(t *testing.T) {
	t.Parallel()
	l := mustNew(t, Config{Rate: 10, Burst: 10, Per: IP, IdleTTL: time.Minute})
	clock := time.Unix(1_000_000, 0)
	l.now = func() time.Time { return clock }
	for i := range 1000 {
		l.keys.get(ipKey(10, 0, byte(i>>8), byte(i)), clock)
	}
	if n := l.Keys(); n != 1000 {
		t.Fatalf("%d keys after 1000 distinct IPs, want 1000", n)
	}
	// Within IdleTTL nothing goes.
	clock = clock.Add(50 * time.Second)
	for i := range shards {
		l.keys.get(ipKey(11, 0, 0, byte(i)), clock)
	}
	if n := l.Keys(); n != 1000+shards {
		t.Fatalf("%d keys before IdleTTL, want %d", n, 1000+shards)
	}
	// A shard is swept at most every IdleTTL/2, so a bucket goes between IdleTTL and
	// 1.5 × IdleTTL after its last use. One lookup per shard later, every shard has been
	// swept.
	clock = clock.Add(40 * time.Second)
	for i := range shards {
		l.keys.get(ipKey(12, 0, 0, byte(i)), clock)
	}
	if n := l.Keys(); n != 2*shards {
		t.Fatalf("%d keys after IdleTTL, want %d (the %d used since)", n, 2*shards, 2*shards)
	}
}

// TestMaxKeys: the table never holds more than about MaxKeys buckets; a new key evicts
// its shard's least recently used one, and is served.
func TestMaxKeys(t *testing.T) {
	t.Parallel()
	l := mustNew(t, Config{Rate: 10, Burst: 10, Per: User, MaxKeys: 64})
	clock := time.Unix(1_000_000, 0)
	var last *entry
	for i := range 10000 {
		clock = clock.Add(time.Millisecond)
		last = l.keys.get(ipKey(10, 0, byte(i>>8), byte(i)), clock)
		if n := l.Keys(); n > 64 {
			t.Fatalf("%d keys after %d distinct IPs, want at most 64", n, i+1)
		}
	}
	if e := l.keys.get(ipKey(10, 0, byte(9999>>8), byte(9999%256)), clock); e != last || e.gone.Load() {
		t.Error("the newest key's bucket was evicted")
	}
}

// TestIdleTTLRaised: an IdleTTL shorter than the time a bucket takes to fill is raised to
// it, so that dropping a bucket never gives tokens that waiting would not have.
func TestIdleTTLRaised(t *testing.T) {
	t.Parallel()
	l := mustNew(t, Config{Rate: 1, Burst: 100, IdleTTL: time.Second})
	if l.keys.ttl != 100*time.Second {
		t.Errorf("IdleTTL %v, want 100s", l.keys.ttl)
	}
	// A bucket that would take longer than a Duration can say to fill is never dropped
	// for idleness.
	l = mustNew(t, Config{Rate: 1e-12, Burst: 1 << 30})
	if l.keys.ttl != math.MaxInt64 {
		t.Errorf("IdleTTL %v, want the longest Duration", l.keys.ttl)
	}
}

// TestDroppedBucketLookedUpAgain: a connection holding a bucket that was dropped looks
// its key up again, rather than keep a bucket nobody else shares.
func TestDroppedBucketLookedUpAgain(t *testing.T) {
	t.Parallel()
	l := mustNew(t, Config{Rate: 1e-6, Burst: 1, Per: IP})
	srv := proxytest.NewServer(t, proxy.Chain(proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		w.WriteReply(resp.Pong)
	}), l))
	a := proxytest.Dial(t, srv.Addr())
	if v := a.Do("PING"); v.IsError() {
		t.Fatalf("first PING: %v", v)
	}
	// Drop every bucket, as a sweep or an eviction would.
	for i := range l.keys.shards {
		s := &l.keys.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			l.keys.drop(s, k, e)
		}
		s.mu.Unlock()
	}
	// a's next command finds a fresh bucket, the same one b gets.
	if v := a.Do("PING"); v.IsError() {
		t.Fatalf("PING after the drop: %v, want a fresh bucket", v)
	}
	b := proxytest.Dial(t, srv.Addr())
	if v := b.Do("PING"); !v.IsError() {
		t.Fatalf("PING from the same IP: %v, want a refusal (a shares the new bucket)", v)
	}
	if n := l.Keys(); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}
}

// TestClosedWhileDelayed: a connection that closes while its command waits for a token
// is released when the timer fires; the command is dropped and the server goes on.
func TestClosedWhileDelayed(t *testing.T) {
	t.Parallel()
	l := mustNew(t, Config{Rate: 1, Burst: 1, Per: Conn, Mode: Delay, MaxDelay: 5 * time.Second})
	resumed := make(chan bool, 1)
	l.delayed = func(closed bool) { resumed <- closed }
	var served atomic.Int64
	srv := proxytest.NewServer(t, proxy.Chain(proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		served.Add(1)
		w.WriteReply(resp.Pong)
	}), l))
	a := proxytest.Dial(t, srv.Addr())
	a.Send([]string{"PING"}, []string{"PING"}, []string{"PING"})
	if v := a.Read(); v.IsError() {
		t.Fatalf("first PING: %v", v)
	}
	// The second PING waits about 1s for its token, the third behind it; close now.
	a.Conn().Close()
	select {
	case closed := <-resumed:
		if !closed {
			t.Fatal("the delayed command was passed on: the connection had not closed within 1s")
		}
	case <-time.After(proxytest.Timeout):
		t.Fatal("the delayed command never came back to its loop")
	}
	b := proxytest.Dial(t, srv.Addr())
	if v := b.Do("PING"); v.IsError() {
		t.Fatalf("PING on a new connection: %v", v)
	}
	if n := served.Load(); n != 2 {
		t.Errorf("the handler served %d commands, want 2 (none of the closed connection's delayed ones)", n)
	}
}
