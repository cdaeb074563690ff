package auth_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// discard is a ReplyWriter that drops replies.
type discard struct{}

func (discard) WriteReply(resp.Value) bool { return true }

var ok = proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) { w.WriteReply(resp.OK) })

// BenchmarkAuthenticated measures the fast path: a command of an authenticated
// connection passing through auth. A request needs a real connection for auth to find
// its state on, so the loop runs on the connection's event loop: the client
// authenticates, then sends BENCH n, and a middleware behind auth calls auth's
// ServeRESP n times with that request. Goal: 0 allocs/op.
func BenchmarkAuthenticated(b *testing.B) {
	a := newAuth(b, auth.Config{Users: []auth.User{{Name: "alice", Password: "secret"}}})
	hook := proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		if !req.Is("bench") {
			next.ServeRESP(ctx, w, req)
			return
		}
		n, _ := strconv.Atoi(string(req.Args()[1]))
		var rec discard
		for range n {
			a.ServeRESP(ctx, rec, req, ok)
		}
		w.WriteReply(resp.OK)
	})
	srv := proxytest.NewServer(b, proxy.Chain(ok, a, hook))
	c := proxytest.Dial(b, srv.Addr())
	if v := c.Do("AUTH", "alice", "secret"); string(v.Str) != "OK" {
		b.Fatalf("AUTH: %v", v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if v := c.Do("BENCH", strconv.Itoa(b.N)); string(v.Str) != "OK" {
		b.Fatalf("BENCH: %v", v)
	}
}

// BenchmarkNoAuth: a command refused with -NOAUTH.
func BenchmarkNoAuth(b *testing.B) {
	a := newAuth(b, auth.Config{Users: []auth.User{{Name: "alice", Password: "secret"}}})
	req := proxy.NewRequest(resp.NewCommand("GET", "k"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a.ServeRESP(ctx, discard{}, req, ok)
	}
}

// BenchmarkAuthStatic: AUTH user password checked against a static user (a SHA-256 and
// a constant-time compare).
func BenchmarkAuthStatic(b *testing.B) {
	a := newAuth(b, auth.Config{Users: []auth.User{{Name: "alice", Password: "secret"}}})
	req := proxy.NewRequest(resp.NewCommand("AUTH", "alice", "secret"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a.ServeRESP(ctx, discard{}, req, ok)
	}
}
