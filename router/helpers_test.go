package router_test

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/backend/shard"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// startShards starts n redis-servers and a shard set over them, closed when the test
// ends.
func startShards(t *testing.T, n int) (*shard.Backend, []*redistest.Server) {
	t.Helper()
	var cfg shard.Config
	var servers []*redistest.Server
	for i := range n {
		s := redistest.Start(t)
		servers = append(servers, s)
		cfg.Servers = append(cfg.Servers, shard.Server{Name: fmt.Sprintf("redis%d", i), Addr: s.Addr()})
	}
	b, err := shard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, servers
}

// wait bounds every wait of these tests: a test that hangs fails instead.
const wait = 30 * time.Second

// stack is a real redis-server behind a real proxy whose terminal handler is a
// router.Forward over a backend/redis client.
type stack struct {
	redis *redistest.Server
	proxy *proxytest.Server
}

// newStack starts a redis-server, a backend for it (configured further by cfg, if not
// nil), and a proxy serving proxy.Chain(router.New(backend), mws...). Cleanups run in
// reverse: the proxy drains and shuts down, then the backend closes, then redis-server
// is killed.
func newStack(t *testing.T, cfg func(*redisbackend.Config), mws ...proxy.Middleware) *stack {
	t.Helper()
	return newStackOn(t, redistest.Start(t), cfg, mws...)
}

// newStackOn is newStack in front of s.
func newStackOn(t *testing.T, s *redistest.Server, cfg func(*redisbackend.Config), mws ...proxy.Middleware) *stack {
	t.Helper()
	c := redisbackend.Config{Addr: s.Addr(), Logger: testLogger(t, "backend")}
	if cfg != nil {
		cfg(&c)
	}
	b, err := redisbackend.New(c)
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("backend close: %v", err)
		}
	})
	var h proxy.Handler = router.New(b)
	if len(mws) > 0 {
		h = proxy.Chain(h, mws...)
	}
	srv := proxytest.NewServer(t, h, proxy.WithLogger(testLogger(t, "proxy")))
	t.Cleanup(func() {
		st := srv.Stats()
		if st.DoubleReplies != 0 || st.LateReplies != 0 {
			t.Errorf("proxy stats %+v: a command was answered twice or late", st)
		}
	})
	return &stack{redis: s, proxy: srv}
}

// testLogger logs warnings and errors to the test. Every goroutine that logs (the
// backend's, the proxy's event loops) ends in a cleanup, before the test completes.
func testLogger(t testing.TB, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: testWriter{t}, Level: hclog.Warn})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newClient returns a go-redis client of addr speaking RESP2, closed when the test ends.
func newClient(t testing.TB, addr string, opt func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: addr, Protocol: 2, ReadTimeout: wait, WriteTimeout: wait}
	if opt != nil {
		opt(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testCtx returns a context that ends with the bounded wait or the test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// result renders what a go-redis command gave: its value, or "err: " and its error.
// Every command type of go-redis has a Val method; reflection spares a type switch.
func result(c redis.Cmder) string {
	if err := c.Err(); err != nil {
		return "err: " + err.Error()
	}
	val := reflect.ValueOf(c).MethodByName("Val")
	if !val.IsValid() {
		return fmt.Sprintf("%T without Val", c)
	}
	return fmt.Sprint(val.Call(nil)[0].Interface())
}

// reply renders a raw reply as its RESP encoding, for messages and comparisons.
func reply(v resp.Value) string { return string(v.AppendTo(nil)) }

// expectClosed checks that the server closes c: the next read gets EOF, within the
// bounded wait of proxytest.
func expectClosed(t *testing.T, c *proxytest.Client) {
	t.Helper()
	if v, err := c.ReadErr(); err != io.EOF {
		t.Fatalf("read = %s, %v; want the connection closed (EOF)", reply(v), err)
	}
}

// eventually calls cond every 10ms until it reports true, and fails the test with cond's
// last message if that does not happen within the bounded wait.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, wait, msg)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
