package rewrite_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/internal/cmdgen"
	"github.com/redchain/redchain/middleware/rewrite"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

const wait = 30 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func newRewrite(t testing.TB, cfg rewrite.Config) *rewrite.Rewrite {
	t.Helper()
	rw, err := rewrite.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rw
}

// capture is a terminal handler that keeps a copy of the command it got and answers
// with reply (or +OK).
type capture struct {
	got   resp.Command
	reply resp.Value
}

func (c *capture) ServeRESP(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	c.got = req.Command().Clone()
	v := c.reply
	if v.Type == 0 {
		v = resp.OK
	}
	w.WriteReply(v)
}

// serve runs args through rw in front of a capturing terminal handler and returns the
// reply and the command the terminal got (no Args when it got none).
func serve(rw proxy.Middleware, args []string, reply resp.Value) (resp.Value, resp.Command) {
	term := &capture{reply: reply}
	var rec proxytest.Recorder
	proxy.Chain(term, rw).ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand(args...)))
	return rec.Replies()[0], term.got
}

// userAuth stands in for an auth middleware: AUTH [user] password sets the connection's
// user, without checking anything.
var userAuth = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if req.Is("auth") && len(req.Args()) == 3 {
		req.Conn().SetUser(string(req.Args()[1]))
		w.WriteReply(resp.OK)
		return
	}
	next.ServeRESP(ctx, w, req)
})

// stack is a real redis-server behind a proxy: userAuth, then rw, then router.New.
type stack struct {
	redis *redistest.Server
	proxy *proxytest.Server
}

func newStack(t *testing.T, rw proxy.Middleware) *stack {
	t.Helper()
	s := redistest.Start(t)
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := proxytest.NewServer(t, proxy.Chain(router.New(b), userAuth, rw))
	return &stack{redis: s, proxy: srv}
}

// client returns a go-redis client of the proxy that authenticates as user ("" for
// none), closed when the test ends.
func client(t *testing.T, addr, user string) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: addr, Protocol: 2, ReadTimeout: wait, WriteTimeout: wait, DisableIndentity: true}
	if user != "" {
		o.Username, o.Password = user, "pw"
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// examples returns invocations of every command with keys of a real redis-server, built
// from its COMMAND DOCS.
func examples(t *testing.T) [][]string {
	t.Helper()
	docs := cmdgen.Fetch(t, redistest.Start(t).Addr())
	g := cmdgen.New(1, 0)
	var out [][]string
	for _, name := range docs.Names() {
		if d := docs[name]; d.HasKeys() {
			for range 3 {
				out = append(out, g.Args(d))
			}
		}
	}
	return out
}
