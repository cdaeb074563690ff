package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// wait bounds the waits of these tests: a test that hangs fails instead.
const wait = 10 * time.Second

// delayed is an Authenticator standing in for an external service: it knows a table of
// users and answers after a delay, from a timer's goroutine.
func delayed(d time.Duration, users map[string]string) auth.Authenticator {
	return auth.AuthenticatorFunc(func(ctx context.Context, user, password string, done func(bool, error)) {
		time.AfterFunc(d, func() {
			want, ok := users[user]
			done(ok && want == password, nil)
		})
	})
}

// call is one Authenticate call that a manual Authenticator has not answered.
type call struct {
	ctx            context.Context
	user, password string
	done           func(bool, error)
}

// manual is an Authenticator that hands every call to the test, which answers it (or
// not) when it likes.
type manual chan call

func (m manual) Authenticate(ctx context.Context, user, password string, done func(bool, error)) {
	m <- call{ctx, user, password, done}
}

// next waits for the next call.
func (m manual) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-m:
		return c
	case <-time.After(wait):
		t.Fatalf("no Authenticate call within %v", wait)
		return call{}
	}
}

// terminal answers in place of a router:
//
//	PING: +PONG; ECHO x: x; WHOAMI: the connection's user
//	HELLO ...: the command as it arrived, "hello 2 setname x"
//	anything else: +OK
var terminal = proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	switch string(req.Name()) {
	case "ping":
		w.WriteReply(resp.Pong)
	case "echo":
		w.WriteReply(resp.Bulk(req.Args()[1]))
	case "whoami":
		w.WriteReply(resp.BulkString(req.Conn().User()))
	case "hello":
		var parts []string
		for _, a := range req.Args() {
			parts = append(parts, strings.ToLower(string(a)))
		}
		w.WriteReply(resp.BulkString(strings.Join(parts, " ")))
	default:
		w.WriteReply(resp.OK)
	}
})

// newAuth returns auth.New(cfg), failing the test on an error.
func newAuth(t testing.TB, cfg auth.Config) *auth.Auth {
	t.Helper()
	a, err := auth.New(cfg)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	return a
}

// serve runs a proxy of proxy.Chain(terminal, a) for the test and checks, when it ends,
// that no command was answered twice or late.
func serve(t *testing.T, a *auth.Auth, opts ...proxy.Option) *proxytest.Server {
	t.Helper()
	opts = append([]proxy.Option{proxy.WithLogger(testLogger(t))}, opts...)
	srv := proxytest.NewServer(t, proxy.Chain(terminal, a), opts...)
	t.Cleanup(func() { checkStats(t, srv) })
	return srv
}

func checkStats(t *testing.T, srv *proxytest.Server) {
	t.Helper()
	if st := srv.Stats(); st.DoubleReplies != 0 || st.LateReplies != 0 {
		t.Errorf("proxy stats %+v: a command was answered twice or late", st)
	}
}

// testLogger logs the proxy's warnings and errors to the test.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "proxy", Output: testWriter{t}, Level: hclog.Warn})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// expect sends cmds in one write and checks their replies, in order; want holds each
// reply as its RESP encoding ("+OK\r\n") or, shorter, as the text of a simple string,
// error or bulk string ("OK", "NOAUTH Authentication required.", "v").
func expect(t *testing.T, c *proxytest.Client, cmds [][]string, want ...string) {
	t.Helper()
	c.Send(cmds...)
	for i, w := range want {
		v := c.Read()
		if got := string(v.Str); got != w && string(v.AppendTo(nil)) != w {
			t.Errorf("reply %d (to %q) = %v, want %q", i, cmds[min(i, len(cmds)-1)], v, w)
		}
	}
}

// cmds builds a pipeline from space-separated commands.
func cmds(lines ...string) [][]string {
	out := make([][]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Fields(l)
	}
	return out
}

// eventually polls cond until it holds or the wait runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline, not synchronizing
	}
}
