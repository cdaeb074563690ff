package ratelimit_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/redchain/redchain/middleware/ratelimit"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// discard takes any reply.
type discard struct{}

func (discard) WriteReply(resp.Value) bool { return true }

// benchLoop measures lim.ServeRESP on a real connection's event loop, where per-connection
// state (proxy.ConnKey) lives: the benchmark sends "BENCH n" and the server runs the
// limiter n times inside that one command, with a terminal that answers at once. The
// round trip of BENCH itself is spread over n.
func benchLoop(b *testing.B, cfg ratelimit.Config) {
	lim, err := ratelimit.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ok := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) { w.WriteReply(resp.OK) })
	driver := proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		n, _ := strconv.Atoi(string(req.Args()[1]))
		req.Conn().SetUser("alice")
		for range n {
			lim.ServeRESP(ctx, discard{}, req, ok)
		}
		w.WriteReply(resp.OK)
	})
	srv := proxytest.NewServer(b, driver)
	c := proxytest.Dial(b, srv.Addr())
	c.Do("BENCH", "1") // per-connection state and the shared bucket are made here
	b.ReportAllocs()
	b.ResetTimer()
	if v := c.Do("BENCH", strconv.Itoa(b.N)); v.IsError() {
		b.Fatal(v)
	}
}

// BenchmarkAllowed: a bucket that always has tokens, the fast path. Goal: 0 allocs/op.
func BenchmarkAllowed(b *testing.B) {
	for _, per := range []ratelimit.Per{ratelimit.Conn, ratelimit.IP, ratelimit.User, ratelimit.Global} {
		b.Run(per.String(), func(b *testing.B) {
			benchLoop(b, ratelimit.Config{Rate: 1e12, Burst: 1 << 30, Per: per})
		})
	}
}

// BenchmarkRejected: an empty bucket in Reject mode. Goal: 0 allocs/op.
func BenchmarkRejected(b *testing.B) {
	benchLoop(b, ratelimit.Config{Rate: 1e-6, Burst: 1, Per: ratelimit.IP})
}

// BenchmarkAllowedGlobalParallel: one global bucket from every CPU at once, as a server's
// event loops use it.
func BenchmarkAllowedGlobalParallel(b *testing.B) {
	lim, err := ratelimit.New(ratelimit.Config{Rate: 1e12, Burst: 1 << 30, Per: ratelimit.Global})
	if err != nil {
		b.Fatal(err)
	}
	ok := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) { w.WriteReply(resp.OK) })
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := proxy.NewRequest(resp.NewCommand("GET", "k"))
		for pb.Next() {
			lim.ServeRESP(ctx, discard{}, req, ok)
		}
	})
}
