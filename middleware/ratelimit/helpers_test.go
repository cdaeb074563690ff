package ratelimit_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/middleware/ratelimit"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// newLimiter returns ratelimit.New(cfg), failing the test on an error.
func newLimiter(t testing.TB, cfg ratelimit.Config) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return l
}

// redisStack is a real redis-server behind a proxy serving
// proxy.Chain(router.New(backend/redis), mws...). It returns the redis server and the
// proxy; cleanups shut the proxy down, close the backend, then kill redis-server.
func redisStack(t *testing.T, mws ...proxy.Middleware) (*redistest.Server, *proxytest.Server) {
	t.Helper()
	s := redistest.Start(t)
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr(), Logger: testLogger(t, "backend")})
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("backend close: %v", err)
		}
	})
	srv := proxytest.NewServer(t, proxy.Chain(router.New(b), mws...), proxy.WithLogger(testLogger(t, "proxy")))
	checkStats(t, srv)
	return s, srv
}

// pongServer is a proxy serving proxy.Chain(pong, mws...): the terminal handler answers
// +PONG at once.
func pongServer(t *testing.T, mws ...proxy.Middleware) *proxytest.Server {
	t.Helper()
	pong := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
		w.WriteReply(resp.Pong)
	})
	srv := proxytest.NewServer(t, proxy.Chain(pong, mws...), proxy.WithLogger(testLogger(t, "proxy")))
	checkStats(t, srv)
	return srv
}

// checkStats fails the test, at its end, if a command was answered twice or late.
func checkStats(t *testing.T, srv *proxytest.Server) {
	t.Cleanup(func() {
		if st := srv.Stats(); st.DoubleReplies != 0 || st.LateReplies != 0 {
			t.Errorf("proxy stats %+v: a command was answered twice or late", st)
		}
	})
}

// login is a stand-in for an auth middleware: "LOGIN name" makes the connection
// authenticated as name (proxy.Conn.SetUser) and answers +OK.
var login = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if req.Is("login") && len(req.Args()) == 2 {
		req.Conn().SetUser(string(req.Args()[1]))
		w.WriteReply(resp.OK)
		return
	}
	next.ServeRESP(ctx, w, req)
})

// client is a raw RESP client connection, like proxytest.Client but dialled from a
// chosen local address (proxytest.Dial cannot bind one). For one goroutine at a time.
type client struct {
	t    testing.TB
	conn net.Conn
	buf  []byte
	rp   resp.ReplyParser
}

// dialFrom connects to addr from the local address ip (any port), closed when the test
// ends. On Linux the whole of 127.0.0.0/8 is loopback, so 127.0.0.2 is a second client IP.
func dialFrom(t testing.TB, ip, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: proxytest.Timeout}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}
}

// Do sends one command and returns its reply.
func (c *client) Do(args ...string) resp.Value {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(proxytest.Timeout))
	if _, err := c.conn.Write(resp.NewCommand(args...).AppendTo(nil)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	for {
		if len(c.buf) > 0 {
			n, err := c.rp.Next(c.buf)
			if err != nil {
				c.t.Fatalf("read: %v", err)
			}
			if n > 0 {
				v, _, err := resp.ParseValue(c.buf[:n], resp.Limits{})
				if err != nil {
					c.t.Fatalf("parse: %v", err)
				}
				v = v.Clone()
				c.buf = c.buf[n:]
				return v
			}
		}
		chunk := make([]byte, 4096)
		m, err := c.conn.Read(chunk)
		c.buf = append(c.buf, chunk[:m]...)
		if err != nil && m == 0 {
			c.t.Fatalf("read: %v", err)
		}
	}
}

// isLimited reports whether v is the limiter's error reply.
func isLimited(v resp.Value) bool {
	return v.IsError() && strings.HasPrefix(string(v.Str), "ERR rate limit exceeded: ")
}

// render writes a reply as its RESP encoding, for messages.
func render(v resp.Value) string { return strings.TrimSpace(string(v.AppendTo(nil))) }

// testLogger logs warnings and errors to the test.
func testLogger(t testing.TB, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: testWriter{t}, Level: hclog.Warn})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
