package router_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

// TestClientSideCaching runs rueidis with its default options (RESP3, CLIENT TRACKING
// ON OPTIN, a cache) through the proxy: it connects, caches a value, and sees it
// invalidated when another client, through the proxy or straight to the server,
// changes it.
func TestClientSideCaching(t *testing.T) {
	st := newStack(t, nil)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{st.proxy.Addr()}, DisableRetry: true})
	if err != nil {
		t.Fatalf("rueidis through the proxy: %v", err)
	}
	t.Cleanup(c.Close)
	ctx := testCtx(t)
	other := proxytest.Dial(t, st.proxy.Addr())
	direct := proxytest.Dial(t, st.redis.Addr())

	get := func() (string, bool) {
		t.Helper()
		r := c.DoCache(ctx, c.B().Get().Key("csc:k").Cache(), time.Minute)
		v, err := r.ToString()
		if err != nil {
			t.Fatalf("DoCache GET: %v", err)
		}
		return v, r.IsCacheHit()
	}
	checkInvalidated(t, "csc:k", get, other, direct)
}

// checkInvalidated has each writer in turn change key, and checks that get (a caching
// client's read of key) then reads the new value, and a second time from its cache.
func checkInvalidated(t *testing.T, key string, get func() (string, bool), writers ...*proxytest.Client) {
	t.Helper()
	for i, writer := range writers {
		val := "v" + strconv.Itoa(i)
		if got := reply(writer.Do("SET", key, val)); got != "+OK\r\n" {
			t.Fatal(got)
		}
		eventually(t, "the new value read", func() (bool, string) {
			v, _ := get()
			return v == val, v
		})
		if v, hit := get(); v != val || !hit {
			t.Fatalf("second GET = %q, cache hit %v; want %q from the cache", v, hit, val)
		}
	}
}

// TestGoRedisClientSideCache runs go-redis with its client-side cache on (RESP3,
// CLIENT TRACKING, invalidation pushes) through the proxy: a value read twice comes
// from the cache the second time, and is invalidated when another client, through the
// proxy or straight to the server, changes it.
func TestGoRedisClientSideCache(t *testing.T) {
	st := newStack(t, nil)
	c := goredis.NewClient(&goredis.Options{
		Addr:                  st.proxy.Addr(),
		Protocol:              3,
		ClientSideCacheConfig: &goredis.ClientSideCacheConfig{MaxEntries: 1000},
	})
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t)
	other := proxytest.Dial(t, st.proxy.Addr())
	direct := proxytest.Dial(t, st.redis.Addr())

	get := func() (v string, hit bool) {
		t.Helper()
		before := c.CSCStats().Hits
		v, err := c.Get(ctx, "gcsc:k").Result()
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		return v, c.CSCStats().Hits > before
	}
	checkInvalidated(t, "gcsc:k", get, other, direct)
}

// TestTrackingRedirectOverShards: CLIENT TRACKING ... REDIRECT over a shard set tells
// each server the ID of the redirection's connection to that server, and a
// subscription to __redis__:invalidate is made on every server: the invalidations of
// keys of all three servers reach the redirection, those of servers the tracking client
// reached after it enabled tracking too.
func TestTrackingRedirectOverShards(t *testing.T) {
	t.Parallel()
	b, servers := startShards(t, 3)
	srv := proxytest.NewServer(t, router.New(b, router.WithFanout(router.FanoutConfig{})))
	keys := make([]string, len(servers))
	for i, s := range servers {
		for n := 0; keys[i] == ""; n++ {
			if k := fmt.Sprintf("k%d", n); b.ServerFor([]byte(k)) == s.Addr() {
				keys[i] = k
			}
		}
	}
	redir := proxytest.Dial(t, srv.Addr())
	id := redir.Do("CLIENT", "ID")
	if v := redir.Do("SUBSCRIBE", "__redis__:invalidate"); v.IsError() {
		t.Fatal(reply(v))
	}
	tracker := proxytest.Dial(t, srv.Addr())
	if v := tracker.Do("CLIENT", "TRACKING", "on", "REDIRECT", strconv.FormatInt(id.Int, 10)); v.IsError() {
		t.Fatalf("CLIENT TRACKING on REDIRECT: %s", reply(v))
	}
	other := proxytest.Dial(t, srv.Addr())
	for _, k := range keys {
		other.Do("SET", k, "1")
		tracker.Do("GET", k) // tracked, on a connection to k's server
		other.Do("SET", k, "2")
		msg := redir.Read() // message __redis__:invalidate [k]
		if len(msg.Elems) != 3 || string(msg.Elems[1].Str) != "__redis__:invalidate" ||
			len(msg.Elems[2].Elems) != 1 || string(msg.Elems[2].Elems[0].Str) != k {
			t.Fatalf("after SET of tracked %s: %s, want its invalidation", k, reply(msg))
		}
	}
	if got := tracker.Do("CLIENT", "GETREDIR"); got.Int != id.Int {
		t.Errorf("CLIENT GETREDIR = %s, want the proxy's ID %d", reply(got), id.Int)
	}

	// BCAST: every server broadcasts its keys' invalidations, also those of servers
	// the tracking client never sent a command to.
	tracker.Do("CLIENT", "TRACKING", "off")
	bcast := proxytest.Dial(t, srv.Addr())
	if v := bcast.Do("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "k", "REDIRECT", strconv.FormatInt(id.Int, 10)); v.IsError() {
		t.Fatalf("CLIENT TRACKING on BCAST REDIRECT: %s", reply(v))
	}
	for _, k := range keys {
		other.Do("SET", k, "3")
		if msg := redir.Read(); len(msg.Elems) != 3 || len(msg.Elems[2].Elems) != 1 || string(msg.Elems[2].Elems[0].Str) != k {
			t.Fatalf("after SET of %s, broadcast: %s, want its invalidation", k, reply(msg))
		}
	}
}

// TestRedirectToStatelessClient: CLIENT TRACKING ... REDIRECT may name a client that
// holds nothing on a server connection of its own (a RESP3 client that only said HELLO,
// which gets invalidations as pushes): the proxy gives it one, as every Redis client
// has, and its invalidations arrive there.
func TestRedirectToStatelessClient(t *testing.T) {
	t.Parallel()
	st := newStack(t, nil)
	target := proxytest.Dial(t, st.proxy.Addr())
	if v := target.Do("HELLO", "3"); v.IsError() {
		t.Fatal(reply(v))
	}
	id := target.Do("CLIENT", "ID")
	tracker := proxytest.Dial(t, st.proxy.Addr())
	if v := tracker.Do("CLIENT", "TRACKING", "on", "REDIRECT", strconv.FormatInt(id.Int, 10)); v.IsError() {
		t.Fatalf("CLIENT TRACKING on REDIRECT to a client without state: %s", reply(v))
	}
	tracker.Do("GET", "k")
	proxytest.Dial(t, st.proxy.Addr()).Do("SET", "k", "1")
	if msg := target.Read(); msg.Type != resp.TypePush || len(msg.Elems) != 2 || string(msg.Elems[0].Str) != "invalidate" ||
		len(msg.Elems[1].Elems) != 1 || string(msg.Elems[1].Elems[0].Str) != "k" {
		t.Fatalf("the redirection got %s, want the push invalidate [k]", reply(msg))
	}
	if v := target.Do("PING"); string(v.Str) != "PONG" {
		t.Errorf("the redirection's next command: %s", reply(v))
	}
}
