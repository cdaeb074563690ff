package proxytest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Suite configures Conformance.
type Suite struct {
	// Middleware is the middleware under test. It is put in front of a terminal handler
	// that answers ECHO with its argument, sometimes at once and sometimes later from
	// another goroutine.
	Middleware proxy.Middleware
	// Setup are commands every connection sends first (AUTH, say); their replies must not
	// be errors. The terminal handler answers them +OK when they reach it.
	Setup [][]string
	// Options are extra server options.
	Options []proxy.Option
	// AllowErrors accepts error replies to the ECHO commands (a rate limiter in reject
	// mode); the other replies must still match their commands, in order.
	AllowErrors bool
	// Conns and Commands size the load: connections at once, and ECHOs each pipelines
	// (defaults 8 and 200).
	Conns, Commands int
	// MaxServe is the longest one call of the middleware may take on the event loop
	// (default 200ms, generous so that a busy test machine's scheduling delays do not
	// count): longer means it blocks the loop.
	MaxServe time.Duration
}

// Conformance checks that s.Middleware keeps the proxy's contracts, as a set of subtests:
// exactly one reply per command, replies in order with a synchronous and with an
// asynchronous terminal handler, no call that blocks the event loop, and nothing written
// or broken when clients go away mid-pipeline.
func Conformance(t *testing.T, s Suite) {
	if s.Conns <= 0 {
		s.Conns = 8
	}
	if s.Commands <= 0 {
		s.Commands = 200
	}
	if s.MaxServe <= 0 {
		s.MaxServe = 200 * time.Millisecond
	}
	for _, async := range []bool{false, true} {
		name := "Sync"
		if async {
			name = "Async"
		}
		t.Run("OneReplyInOrder"+name, func(t *testing.T) {
			srv, w := s.start(t, async)
			var wg sync.WaitGroup
			errs := make(chan string, s.Conns)
			for i := 0; i < s.Conns; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if msg := s.pipeline(t, srv.Addr(), i); msg != "" {
						errs <- msg
					}
				}()
			}
			wg.Wait()
			close(errs)
			for msg := range errs {
				t.Error(msg)
			}
			w.check(t, srv)
		})
	}
	t.Run("ClientGoneMidPipeline", func(t *testing.T) {
		srv, w := s.start(t, true)
		for i := 0; i < s.Conns; i++ {
			c := Dial(t, srv.Addr())
			c.Send(s.Setup...)
			var cmds [][]string
			for j := 0; j < s.Commands; j++ {
				cmds = append(cmds, []string{"ECHO", strconv.Itoa(j)})
			}
			c.Send(cmds...)
			c.Conn().Close()
		}
		// The server must go on serving.
		if msg := s.pipeline(t, srv.Addr(), 0); msg != "" {
			t.Error(msg)
		}
		w.check(t, srv)
	})
}

// watch wraps the middleware to time each call on the loop.
type watch struct {
	mw      proxy.Middleware
	max     time.Duration
	mu      sync.Mutex
	slowest time.Duration
}

func (w *watch) ServeRESP(ctx context.Context, rw proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	start := time.Now()
	w.mw.ServeRESP(ctx, rw, req, next)
	if d := time.Since(start); d > w.max {
		w.mu.Lock()
		w.slowest = max(w.slowest, d)
		w.mu.Unlock()
	}
}

func (w *watch) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	if o, ok := w.mw.(proxy.ConnObserver); ok {
		return o.ObserveConn(ctx, c)
	}
	return ctx
}

func (w *watch) check(t *testing.T, srv *Server) {
	t.Helper()
	w.mu.Lock()
	slow := w.slowest
	w.mu.Unlock()
	if slow > 0 {
		t.Errorf("a call of the middleware took %v on the event loop (limit %v): it blocks", slow, w.max)
	}
	if st := srv.Stats(); st.DoubleReplies > 0 {
		t.Errorf("%d commands were answered twice", st.DoubleReplies)
	}
}

func (s Suite) start(t *testing.T, async bool) (*Server, *watch) {
	w := &watch{mw: s.Middleware, max: s.MaxServe}
	terminal := proxy.HandlerFunc(func(_ context.Context, rw proxy.ReplyWriter, req *proxy.Request) {
		v := resp.OK
		if req.Is("echo") && len(req.Args()) == 2 {
			v = resp.Bulk(req.Args()[1])
		}
		if !async || rand.IntN(2) == 0 {
			rw.WriteReply(v)
			return
		}
		v = v.Clone()
		d := time.Duration(rand.IntN(500)) * time.Microsecond
		time.AfterFunc(d, func() { rw.WriteReply(v) })
	})
	return NewServer(t, proxy.Chain(terminal, w), s.Options...), w
}

// pipeline runs one connection's setup and ECHO pipeline and returns what went wrong.
func (s Suite) pipeline(t *testing.T, addr string, id int) string {
	c := Dial(t, addr)
	c.Send(s.Setup...)
	for i, cmd := range s.Setup {
		v, err := c.ReadErr()
		if err != nil || v.IsError() {
			return fmt.Sprintf("conn %d: setup command %d %q: reply %v, error %v", id, i, cmd, v, err)
		}
	}
	cmds := make([][]string, s.Commands)
	for i := range cmds {
		cmds[i] = []string{"ECHO", fmt.Sprintf("%d-%d", id, i)}
	}
	c.Send(cmds...)
	for i := range cmds {
		v, err := c.ReadErr()
		if err != nil {
			return fmt.Sprintf("conn %d: reply %d: %v", id, i, err)
		}
		if v.IsError() && s.AllowErrors {
			continue
		}
		if got := string(v.Str); v.Type != resp.TypeBulkString || got != cmds[i][1] {
			return fmt.Sprintf("conn %d: reply %d is %v, want %q: out of order or not its own", id, i, v, cmds[i][1])
		}
	}
	// One more round trip: a second reply to any command above would show up here.
	c.Send([]string{"ECHO", "last"})
	if v, err := c.ReadErr(); err != nil || string(v.Str) != "last" {
		if !(s.AllowErrors && v.IsError()) {
			return fmt.Sprintf("conn %d: after the pipeline got %v (error %v), want \"last\": an extra reply?", id, v, err)
		}
	}
	return ""
}
