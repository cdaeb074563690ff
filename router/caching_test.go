package router_test

import (
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/redchain/redchain/proxy/proxytest"
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
