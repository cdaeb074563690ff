package proxytest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

// Environment of TestBrokenHelper, set by TestBroken.
const (
	brokenEnv = "PROXYTEST_BROKEN"       // the name of the broken case to run
	redisEnv  = "PROXYTEST_BROKEN_REDIS" // the address of the Redis its terminal uses
)

// brokenCase is a middleware that breaks one contract, and what Conformance must say of it.
type brokenCase struct {
	name string
	// suite returns the suite that runs the broken middleware, against the Redis at addr.
	suite func(addr string) proxytest.Suite
	// want are texts the failing run's output must hold: the subtest and the message.
	want []string
	// every, if set, is in every message of a connection that failed: it names the kind
	// of commands (or the protocol) the middleware breaks, and no other.
	every string
}

// small is the load of the broken cases: enough to meet every kind, small for time.
func small(addr string, mw proxy.Middleware, mix ...proxytest.Kind) proxytest.Suite {
	s := proxytest.Suite{Middleware: mw, Conns: 4, Commands: 60, Mix: mix}
	if len(mix) > 0 {
		s.Terminal = redisTerminal(addr)
	}
	return s
}

var brokenCases = []brokenCase{
	{
		name:  "AnswersTwice",
		suite: func(addr string) proxytest.Suite { return small(addr, twice, proxytest.AllKinds...) },
		want:  []string{"--- FAIL: TestBrokenHelper/SameRepliesSync", "commands were answered twice"},
	},
	{
		name:  "ReordersEcho",
		suite: func(addr string) proxytest.Suite { return small(addr, &swap{}) },
		want:  []string{"--- FAIL: TestBrokenHelper/OneReplyInOrderSync", "out of order or not its own"},
	},
	{
		name:  "Reorders",
		suite: func(addr string) proxytest.Suite { return small(addr, &swap{}, proxytest.Reads, proxytest.Writes) },
		want:  []string{"--- FAIL: TestBrokenHelper/SameRepliesSync", ", reference "},
	},
	{
		name: "BlocksTheLoop",
		suite: func(addr string) proxytest.Suite {
			s := small(addr, &sleepy{}, proxytest.Writes)
			s.MaxServe = 100 * time.Millisecond
			return s
		},
		want: []string{"--- FAIL: TestBrokenHelper/SameRepliesSync", "on the event loop (limit 100ms): it blocks"},
	},
	{
		name: "DropsAReply",
		suite: func(addr string) proxytest.Suite {
			s := small(addr, &drop{}, proxytest.Reads, proxytest.Writes)
			s.Options = []proxy.Option{proxy.WithReplyTimeout(time.Second)}
			return s
		},
		want: []string{"--- FAIL: TestBrokenHelper/SameRepliesSync", "reply timeout"},
	},
	{
		name:  "ChangesGet",
		suite: func(addr string) proxytest.Suite { return small(addr, changeGet, proxytest.Reads, proxytest.Writes) },
		want:  []string{"--- FAIL: TestBrokenHelper/SameRepliesSync", `(Reads) "GET"`},
	},
	{
		name:  "BreaksLargeValues",
		suite: func(addr string) proxytest.Suite { return small(addr, truncate, proxytest.AllKinds...) },
		want:  []string{"--- FAIL: TestBrokenHelper/SameRepliesSync"},
		every: "(LargeValues)",
	},
	{
		name:  "BreaksRESP3",
		suite: func(addr string) proxytest.Suite { return small(addr, &flattenRESP3{}, proxytest.AllKinds...) },
		want:  []string{"--- FAIL: TestBrokenHelper/SameRepliesSync"},
		every: "(RESP3)",
	},
	{
		name:  "BreaksMulti",
		suite: func(addr string) proxytest.Suite { return small(addr, &queueGets{}, proxytest.AllKinds...) },
		want:  []string{"--- FAIL: TestBrokenHelper/SameRepliesSync"},
		every: "(Transactions)",
	},
	{
		name:  "BreaksSubscribe",
		suite: func(addr string) proxytest.Suite { return small(addr, firstFrame, proxytest.AllKinds...) },
		want:  []string{"--- FAIL: TestBrokenHelper/SameRepliesSync"},
		every: "(PubSub)",
	},
	{
		name:  "PanicsWhenClientGone",
		suite: func(addr string) proxytest.Suite { return small(addr, panicWhenGone, proxytest.Reads) },
		want:  []string{"=== RUN   TestBrokenHelper/ClientGoneMidPipeline\npanic: write after the client has gone"},
	},
}

// TestBroken proves that each check of Conformance fails on a middleware that breaks
// it: each case runs Conformance in a subprocess (TestBrokenHelper), which must fail
// and say which check failed.
func TestBroken(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	for _, bc := range brokenCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokenHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+bc.name, redisEnv+"="+srv.Addr())
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("Conformance passed a middleware that is broken:\n%s", out)
			}
			for _, w := range bc.want {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("the output does not say %q:\n%s", w, out)
				}
			}
			if bc.every != "" {
				msgs := failures.FindAll(out, -1)
				if len(msgs) == 0 {
					t.Errorf("no connection failed:\n%s", out)
				}
				for _, m := range msgs {
					if !bytes.Contains(m, []byte(bc.every)) {
						t.Errorf("a failure not of %s: %s", bc.every, m)
					}
				}
			}
		})
	}
}

// failures finds the messages of connections that failed.
var failures = regexp.MustCompile(`(?m): conn \d+.*$`)

// TestBrokenHelper runs Conformance on the broken middleware that PROXYTEST_BROKEN names,
// for TestBroken; it is skipped otherwise.
func TestBrokenHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("run by TestBroken")
	}
	for _, bc := range brokenCases {
		if bc.name == name {
			proxytest.Conformance(t, bc.suite(os.Getenv(redisEnv)))
			return
		}
	}
	t.Fatalf("no broken case %q", name)
}

// twice writes the reply of every GET twice.
var twice = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if !req.Is("get") {
		next.ServeRESP(ctx, w, req)
		return
	}
	next.ServeRESP(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		w.WriteReply(v)
		return w.WriteReply(v)
	}), req)
})

// swap serves each pair of commands of a connection in reverse order, each with the
// other's writer: the replies cross. A command left without a partner is served alone
// after 10ms.
type swap struct{ held sync.Map } // *proxy.Conn → *heldCmd

type heldCmd struct {
	ctx context.Context
	w   proxy.ReplyWriter
	req *proxy.Request
}

func (s *swap) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	c := req.Conn()
	if v, ok := s.held.LoadAndDelete(c); ok {
		h := v.(*heldCmd)
		next.ServeRESP(ctx, h.w, req)
		next.ServeRESP(h.ctx, w, h.req)
		return
	}
	h := &heldCmd{ctx, w, req}
	s.held.Store(c, h)
	time.AfterFunc(10*time.Millisecond, func() {
		c.Post(func() {
			if s.held.CompareAndDelete(c, h) {
				next.ServeRESP(h.ctx, h.w, h.req)
			}
		})
	})
}

// sleepy sleeps on the loop, for longer than MaxServe, in the first SET it serves.
type sleepy struct{ slept atomic.Bool }

func (s *sleepy) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if req.Is("set") && s.slept.CompareAndSwap(false, true) {
		time.Sleep(300 * time.Millisecond) // the broken behaviour under test
	}
	next.ServeRESP(ctx, w, req)
}

// drop never answers the first GET it serves.
type drop struct{ dropped atomic.Bool }

func (d *drop) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if req.Is("get") && d.dropped.CompareAndSwap(false, true) {
		return
	}
	next.ServeRESP(ctx, w, req)
}

// changeGet adds a byte to every value GET finds.
var changeGet = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if !req.Is("get") {
		next.ServeRESP(ctx, w, req)
		return
	}
	next.ServeRESP(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		if d, err := v.Decode(); err == nil && d.Type == resp.TypeBulkString && !d.IsNull() {
			v = resp.BulkString(string(d.Str) + "!")
		}
		return w.WriteReply(v)
	}), req)
})

// truncate cuts arguments longer than 64 KiB to 64 KiB.
var truncate = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	cmd := req.Command()
	for i, a := range cmd.Args {
		if len(a) > 64<<10 {
			args := append([][]byte(nil), cmd.Args...)
			args[i] = a[:64<<10]
			req.SetCommand(resp.Command{Args: args})
			break
		}
	}
	next.ServeRESP(ctx, w, req)
})

// flattenRESP3 answers a client that said HELLO 3 maps as flat arrays, as RESP2 has them.
type flattenRESP3 struct{ resp3 sync.Map } // *proxy.Conn → true

func (f *flattenRESP3) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	f.resp3.Delete(c) // a connection that reuses the memory of an earlier one
	return ctx
}

func (f *flattenRESP3) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if req.Is("hello") && len(req.Args()) > 1 && string(req.Args()[1]) == "3" {
		f.resp3.Store(req.Conn(), true)
	}
	if _, ok := f.resp3.Load(req.Conn()); !ok {
		next.ServeRESP(ctx, w, req)
		return
	}
	next.ServeRESP(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		if d, err := v.Decode(); err == nil && d.Type == resp.TypeMap {
			v = resp.Array(d.Elems...)
		}
		return w.WriteReply(v)
	}), req)
}

// queueGets answers the GETs of a transaction QUEUED itself, and never runs them.
type queueGets struct{ multi sync.Map } // *proxy.Conn → true

func (q *queueGets) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	q.multi.Delete(c)
	return ctx
}

func (q *queueGets) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	switch {
	case req.Is("multi"):
		q.multi.Store(req.Conn(), true)
	case req.Is("exec") || req.Is("discard"):
		q.multi.Delete(req.Conn())
	case req.Is("get"):
		if _, ok := q.multi.Load(req.Conn()); ok {
			w.WriteReply(resp.Queued)
			return
		}
	}
	next.ServeRESP(ctx, w, req)
}

// firstFrame decodes the replies of (un)subscriptions, which keeps only the first of
// their confirmations.
var firstFrame = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if !strings.HasSuffix(string(req.Name()), "subscribe") {
		next.ServeRESP(ctx, w, req)
		return
	}
	next.ServeRESP(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		if d, err := v.Decode(); err == nil {
			v = d
		}
		return w.WriteReply(v)
	}), req)
})

// panicWhenGone answers every command 1ms later, from a timer, and panics there when
// the client has gone.
var panicWhenGone = proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	next.ServeRESP(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		v = v.Clone()
		time.AfterFunc(time.Millisecond, func() {
			if ctx.Err() != nil {
				panic("write after the client has gone")
			}
			w.WriteReply(v)
		})
		return true
	}), req)
})
