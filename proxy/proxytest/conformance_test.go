package proxytest_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, proxytest.LeakOptions()...) }

// redisTerminal returns a Suite.Terminal: the router over a backend for the Redis at addr.
func redisTerminal(addr string) func(t testing.TB) proxy.Handler {
	return func(t testing.TB) proxy.Handler {
		b, err := redis.New(redis.Config{Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return router.New(b)
	}
}

// pass is a middleware that does nothing but call next.
var pass = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	next.ServeRESP(ctx, w, req)
})

// TestConformance: a middleware that passes everything on passes, with the fake ECHO
// terminal, with a real one, and with every kind of commands against a real one.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name string
		s    proxytest.Suite
	}{
		{"Echo", proxytest.Suite{Middleware: pass}},
		{"EchoThroughRedis", proxytest.Suite{Middleware: pass, Terminal: redisTerminal(srv.Addr()), Conns: 4}},
		{"AllKinds", proxytest.Suite{Middleware: pass, Terminal: redisTerminal(srv.Addr()), Mix: proxytest.AllKinds, Conns: 4, Commands: 120}},
	} {
		t.Run(tc.name, func(t *testing.T) { proxytest.Conformance(t, tc.s) })
	}
}
