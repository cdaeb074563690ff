package proxy_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// echo answers ECHO x with x, PING with PONG, and anything else with the number of its
// arguments.
func echoValue(req *proxy.Request) resp.Value {
	switch {
	case req.Is("echo") && len(req.Args()) == 2:
		return resp.Bulk(req.Args()[1])
	case req.Is("ping"):
		return resp.Pong
	}
	return resp.Integer(int64(len(req.Args())))
}

var echo = proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	w.WriteReply(echoValue(req))
})

func echoCmds(prefix string, n int) [][]string {
	cmds := make([][]string, n)
	for i := range cmds {
		cmds[i] = []string{"ECHO", prefix + strconv.Itoa(i)}
	}
	return cmds
}

func expectEchoes(t *testing.T, c *proxytest.Client, cmds [][]string) {
	t.Helper()
	for i, cmd := range cmds {
		v := c.Read()
		if string(v.Str) != cmd[1] {
			t.Fatalf("reply %d = %v, want %q", i, v, cmd[1])
		}
	}
}

func TestPipelineInOrderWithRandomDelays(t *testing.T) {
	t.Parallel()
	const conns, perConn = 50, 400
	var mu sync.Mutex
	seen := map[uint64][]string{} // what the "backend" received, per connection
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		mu.Lock()
		id := req.Conn().ID()
		seen[id] = append(seen[id], string(req.Args()[1]))
		mu.Unlock()
		v := echoValue(req).Clone()
		if rand.IntN(4) == 0 {
			w.WriteReply(v) // some answer at once, the rest out of order
			return
		}
		time.AfterFunc(time.Duration(rand.IntN(2000))*time.Microsecond, func() { w.WriteReply(v) })
	})
	srv := proxytest.NewServer(t, h)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := proxytest.Dial(t, srv.Addr())
			cmds := echoCmds(fmt.Sprintf("c%d-", i), perConn)
			// In several writes of random sizes, to cross read boundaries.
			for len(cmds) > 0 {
				n := min(len(cmds), 1+rand.IntN(64))
				c.Send(cmds[:n]...)
				cmds = cmds[n:]
			}
			expectEchoes(t, c, echoCmds(fmt.Sprintf("c%d-", i), perConn))
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != conns {
		t.Fatalf("handler saw %d connections, want %d", len(seen), conns)
	}
	for id, got := range seen {
		prefix := strings.SplitN(got[0], "-", 2)[0] + "-"
		for i, arg := range got {
			if want := prefix + strconv.Itoa(i); arg != want {
				t.Fatalf("conn %d: command %d reached the handler as %q, want %q", id, i, arg, want)
			}
		}
	}
}

// holdFirst holds the connection on AUTH for a while, like an asynchronous
// authenticator, and records whether anything got through meanwhile.
type holdFirst struct {
	delay    time.Duration
	held     atomic.Bool
	overtook atomic.Int64
}

func (m *holdFirst) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if !req.Is("auth") {
		if m.held.Load() {
			m.overtook.Add(1)
		}
		next.ServeRESP(ctx, w, req)
		return
	}
	c := req.Conn()
	release := c.Hold()
	m.held.Store(true)
	time.AfterFunc(m.delay, func() {
		c.Post(func() {
			m.held.Store(false)
			w.WriteReply(resp.OK)
			release()
			release() // idempotent
		})
	})
}

func TestHoldKeepsPipelineBehind(t *testing.T) {
	t.Parallel()
	mw := &holdFirst{delay: 100 * time.Millisecond}
	srv := proxytest.NewServer(t, proxy.Chain(echo, mw))
	c := proxytest.Dial(t, srv.Addr())
	cmds := append([][]string{{"AUTH", "secret"}}, echoCmds("p", 50)...)
	start := time.Now()
	c.Send(cmds...) // one write
	if v := c.Read(); v.Type != resp.TypeSimpleString || string(v.Str) != "OK" {
		t.Fatalf("AUTH reply = %v, want +OK", v)
	}
	if d := time.Since(start); d < mw.delay {
		t.Fatalf("AUTH answered after %v, before its %v hold ended", d, mw.delay)
	}
	expectEchoes(t, c, cmds[1:])
	if n := mw.overtook.Load(); n != 0 {
		t.Fatalf("%d commands entered the chain while the connection was held", n)
	}
}

func TestHoldBoundedPending(t *testing.T) {
	t.Parallel()
	// A pending queue of 8: the 500 commands behind the hold are read 8 at a time, and
	// all still come back in order.
	mw := &holdFirst{delay: 50 * time.Millisecond}
	srv := proxytest.NewServer(t, proxy.Chain(echo, mw), proxy.WithMaxPending(8), proxy.WithMaxInflight(16))
	c := proxytest.Dial(t, srv.Addr())
	cmds := append([][]string{{"AUTH", "x"}}, echoCmds("q", 500)...)
	c.Send(cmds...)
	if v := c.Read(); string(v.Str) != "OK" {
		t.Fatalf("AUTH reply = %v", v)
	}
	expectEchoes(t, c, cmds[1:])
}

func TestInflightBound(t *testing.T) {
	t.Parallel()
	const bound = 4
	var inflight, peak atomic.Int64
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		v := echoValue(req).Clone()
		time.AfterFunc(time.Millisecond, func() {
			inflight.Add(-1)
			w.WriteReply(v)
		})
	})
	srv := proxytest.NewServer(t, h, proxy.WithMaxInflight(bound))
	c := proxytest.Dial(t, srv.Addr())
	cmds := echoCmds("b", 200)
	c.Send(cmds...)
	expectEchoes(t, c, cmds)
	if p := peak.Load(); p > bound {
		t.Fatalf("%d commands in flight at once, bound is %d", p, bound)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	srv := proxytest.NewServer(t, echo, proxy.WithMaxQueryBuffer(1<<20))
	tests := []struct {
		name, in, want string
	}{
		{"bulk length not a number", "*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length"},
		{"negative bulk length", "*1\r\n$-2\r\n", "-ERR Protocol error: invalid bulk length"},
		{"huge bulk length", "*1\r\n$9223372036854775807\r\n", "-ERR Protocol error: invalid bulk length"},
		{"huge multibulk length", "*9223372036854775807\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"not a bulk", "*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'"},
		{"unbalanced quotes", "ECHO \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request"},
		{"query buffer limit", "*1\r\n$2000000\r\n" + strings.Repeat("a", 1<<20+100), "-ERR Protocol error: query buffer limit exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := proxytest.Dial(t, srv.Addr())
			// A good command first: its reply must come before the error.
			c.WriteRaw([]byte("PING\r\n" + tt.in))
			if v := c.Read(); string(v.Str) != "PONG" {
				t.Fatalf("first reply = %v, want +PONG", v)
			}
			v := c.Read()
			if got := string(v.AppendTo(nil)); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("reply = %q, want prefix %q", got, tt.want)
			}
			if v, err := c.ReadErr(); err != io.EOF {
				t.Fatalf("after a protocol error: %v, %v; want the connection closed", v, err)
			}
		})
	}
	t.Run("million arguments", func(t *testing.T) {
		t.Parallel()
		srv := proxytest.NewServer(t, echo) // default query buffer limit
		c := proxytest.Dial(t, srv.Addr())
		const n = 1_000_000
		var b bytes.Buffer
		fmt.Fprintf(&b, "*%d\r\n$5\r\nMULTI\r\n", n)
		for i := 1; i < n; i++ {
			b.WriteString("$1\r\na\r\n")
		}
		c.WriteRaw(b.Bytes())
		if v := c.Read(); v.Type != resp.TypeInteger || v.Int != n {
			t.Fatalf("reply = %v, want :%d", v, n)
		}
		if v := c.Do("PING"); string(v.Str) != "PONG" {
			t.Fatalf("PING after it = %v", v)
		}
	})
	// The server still serves.
	c := proxytest.Dial(t, srv.Addr())
	if v := c.Do("ECHO", "still here"); string(v.Str) != "still here" {
		t.Fatalf("reply = %v", v)
	}
}

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	h := proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if req.Is("boom") {
			panic("boom")
		}
		echo(ctx, w, req)
	})
	srv := proxytest.NewServer(t, h)
	c := proxytest.Dial(t, srv.Addr())
	c.Send([]string{"ECHO", "a"}, []string{"BOOM"}, []string{"ECHO", "b"})
	if v := c.Read(); string(v.Str) != "a" {
		t.Fatalf("reply 1 = %v", v)
	}
	if v := c.Read(); !v.IsError() || string(v.Str) != "ERR internal error" {
		t.Fatalf("reply 2 = %v, want -ERR internal error", v)
	}
	if v := c.Read(); string(v.Str) != "b" {
		t.Fatalf("reply 3 = %v", v)
	}
}

func TestSecondReplyRefused(t *testing.T) {
	t.Parallel()
	var second atomic.Bool
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		w.WriteReply(echoValue(req))
		if req.Is("echo") && string(req.Args()[1]) == "twice" {
			second.Store(w.WriteReply(resp.BulkString("again")))
		}
	})
	srv := proxytest.NewServer(t, h)
	c := proxytest.Dial(t, srv.Addr())
	c.Send([]string{"ECHO", "twice"}, []string{"ECHO", "next"})
	if v := c.Read(); string(v.Str) != "twice" {
		t.Fatalf("reply 1 = %v", v)
	}
	if v := c.Read(); string(v.Str) != "next" {
		t.Fatalf("reply 2 = %v: the second write leaked", v)
	}
	if second.Load() {
		t.Fatal("WriteReply accepted a second reply")
	}
	if n := srv.Stats().DoubleReplies; n != 1 {
		t.Fatalf("DoubleReplies = %d, want 1", n)
	}
}

func TestReplyTimeout(t *testing.T) {
	t.Parallel()
	forgotten := make(chan proxy.ReplyWriter, 1)
	h := proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if req.Is("forget") {
			forgotten <- w
			return
		}
		echo(ctx, w, req)
	})
	srv := proxytest.NewServer(t, h, proxy.WithReplyTimeout(50*time.Millisecond))
	c := proxytest.Dial(t, srv.Addr())
	c.Send([]string{"FORGET"}, []string{"ECHO", "after"})
	if v := c.Read(); !v.IsError() || !strings.Contains(string(v.Str), "reply timeout") {
		t.Fatalf("reply 1 = %v, want a reply timeout error", v)
	}
	if v := c.Read(); string(v.Str) != "after" {
		t.Fatalf("reply 2 = %v", v)
	}
	// The forgotten writer comes back late: refused, and the next command is unharmed.
	if (<-forgotten).WriteReply(resp.BulkString("late")) {
		t.Fatal("a late reply was accepted")
	}
	if v := c.Do("ECHO", "x"); string(v.Str) != "x" {
		t.Fatalf("reply 3 = %v", v)
	}
	if n := srv.Stats().LateReplies; n != 1 {
		t.Fatalf("LateReplies = %d, want 1", n)
	}
}

func TestQuit(t *testing.T) {
	t.Parallel()
	srv := proxytest.NewServer(t, echo)
	c := proxytest.Dial(t, srv.Addr())
	c.Send([]string{"PING"}, []string{"quit"}, []string{"PING"})
	if v := c.Read(); string(v.Str) != "PONG" {
		t.Fatalf("reply 1 = %v", v)
	}
	if v := c.Read(); string(v.Str) != "OK" {
		t.Fatalf("QUIT reply = %v", v)
	}
	if v, err := c.ReadErr(); err != io.EOF {
		t.Fatalf("after QUIT: %v %v, want EOF", v, err)
	}
}

func TestMaxClients(t *testing.T) {
	t.Parallel()
	srv := proxytest.NewServer(t, echo, proxy.WithMaxClients(1))
	c1 := proxytest.Dial(t, srv.Addr())
	if v := c1.Do("PING"); string(v.Str) != "PONG" {
		t.Fatalf("first client: %v", v)
	}
	c2 := proxytest.Dial(t, srv.Addr())
	if v := c2.Read(); !v.IsError() || string(v.Str) != "ERR max number of clients reached" {
		t.Fatalf("second client: %v", v)
	}
	if _, err := c2.ReadErr(); err != io.EOF {
		t.Fatalf("second client not closed: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := proxytest.NewServer(t, echo, proxy.WithIdleTimeout(50*time.Millisecond))
	c := proxytest.Dial(t, srv.Addr())
	if v := c.Do("PING"); string(v.Str) != "PONG" {
		t.Fatalf("PING: %v", v)
	}
	if _, err := c.ReadErr(); err != io.EOF {
		t.Fatalf("idle connection not closed: %v", err)
	}
}

func TestShutdownFinishesInflight(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	var once sync.Once
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		v := echoValue(req).Clone()
		time.AfterFunc(20*time.Millisecond, func() { w.WriteReply(v) })
		if req.Is("echo") && string(req.Args()[1]) == "s9" {
			once.Do(func() { close(arrived) })
		}
	})
	srv := proxy.New(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe("127.0.0.1:0") }()
	<-srv.Ready()
	c := proxytest.Dial(t, srv.Addr().String())
	cmds := echoCmds("s", 10)
	c.Send(cmds...)
	<-arrived
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	expectEchoes(t, c, cmds)
	if _, err := c.ReadErr(); err != io.EOF {
		t.Fatalf("after shutdown: %v, want EOF", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err != proxy.ErrServerClosed {
		t.Fatalf("ListenAndServe: %v", err)
	}
}

// TestRestartOnSameAddress starts a server again on the address of one that closed its
// clients' connections (which leaves them in TIME_WAIT on the server's side), as an
// operator restarting a proxy does: it must bind, as Redis does (SO_REUSEADDR).
func TestRestartOnSameAddress(t *testing.T) {
	t.Parallel()
	addr := ""
	for range 2 {
		srv := proxy.New(proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
			w.WriteReply(echoValue(req))
		}))
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe(cmp.Or(addr, "127.0.0.1:0")) }()
		<-srv.Ready()
		if srv.Addr() == nil {
			t.Fatalf("listen on %s: %v", addr, <-errc)
		}
		addr = srv.Addr().String()
		c := proxytest.Dial(t, addr)
		if got := c.Do("ECHO", "x"); string(got.Str) != "x" {
			t.Fatalf("ECHO = %q", got.Str)
		}
		c.Send([]string{"QUIT"})
		c.Read()
		if _, err := c.ReadErr(); err != io.EOF {
			t.Fatalf("after QUIT: %v, want EOF", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), proxytest.Timeout)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		cancel()
		if err := <-errc; err != proxy.ErrServerClosed {
			t.Fatalf("ListenAndServe: %v", err)
		}
	}
}

func TestConnKeyAndPost(t *testing.T) {
	t.Parallel()
	count := proxy.NewConnKey[int]()
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		c := req.Conn()
		count.Set(c, count.Get(c)+1)
		n := count.Get(c)
		want := "u" // set by the connection's first command, below
		if n == 1 {
			want = "" // each connection starts with no user
		}
		if c.User() != want {
			n = -1
		}
		c.SetUser("u")
		go c.Post(func() { w.WriteReply(resp.Integer(int64(n))) })
	})
	srv := proxytest.NewServer(t, h)
	for _, name := range []string{"a", "b"} {
		c := proxytest.Dial(t, srv.Addr())
		c.Send([]string{"X"}, []string{"X"}, []string{"X"})
		for i := 1; i <= 3; i++ {
			if v := c.Read(); v.Int != int64(i) {
				t.Fatalf("conn %s: reply %d = %v", name, i, v)
			}
		}
	}
}

func TestGather(t *testing.T) {
	t.Parallel()
	var rec proxytest.Recorder
	sum := func(parts []resp.Value) resp.Value {
		var n int64
		for _, p := range parts {
			n += p.Int
		}
		return resp.Integer(n)
	}
	ws := proxy.Gather(&rec, 3, sum)
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.WriteReply(resp.Integer(int64(i + 1)))
		}()
	}
	wg.Wait()
	if ws[0].WriteReply(resp.Integer(100)) {
		t.Fatal("a part took a second reply")
	}
	got := rec.Wait(t, 1)
	if len(got) != 1 || got[0].Int != 6 {
		t.Fatalf("gathered %v, want one :6", got)
	}
	var empty proxytest.Recorder
	if ws := proxy.Gather(&empty, 0, sum); ws != nil || len(empty.Replies()) != 1 {
		t.Fatalf("Gather of 0 parts: %v writers, %v", ws, empty.Replies())
	}
}

func TestConformanceOfHold(t *testing.T) {
	proxytest.Conformance(t, proxytest.Suite{
		Middleware: &holdFirst{delay: 10 * time.Millisecond},
		Setup:      [][]string{{"AUTH", "x"}},
	})
}

// pass is a middleware that does nothing but call next.
type pass struct{}

func (pass) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	next.ServeRESP(ctx, w, req)
}

type discard struct{ n int }

func (d *discard) WriteReply(resp.Value) bool { d.n++; return true }

func BenchmarkChain(b *testing.B) {
	mws := make([]proxy.Middleware, 8)
	for i := range mws {
		mws[i] = pass{}
	}
	h := proxy.Chain(echo, mws...)
	req := proxy.NewRequest(resp.NewCommand("PING"))
	w := &discard{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeRESP(ctx, w, req)
	}
}

// BenchmarkServerPipeline sends pipelines of 16 PINGs through a real server with 8
// pass-through middleware and reads the 16 PONGs: parsing, the chain, encoding and the
// ordered flush, per command.
func BenchmarkServerPipeline(b *testing.B) {
	mws := make([]proxy.Middleware, 8)
	for i := range mws {
		mws[i] = pass{}
	}
	srv := proxytest.NewServer(b, proxy.Chain(echo, mws...), proxy.WithEventLoops(1))
	const depth = 16
	req := bytes.Repeat([]byte("*1\r\n$4\r\nPING\r\n"), depth)
	proxytest.Pipeline(b, srv.Addr(), req, depth, depth*len("+PONG\r\n"))
}

func TestQueryBufferBoundsWaitingInput(t *testing.T) {
	t.Parallel()
	// The handler never answers, so the ring (2 commands) fills and every later byte
	// waits undecoded; past the query buffer limit the client is cut off.
	h := proxy.HandlerFunc(func(context.Context, proxy.ReplyWriter, *proxy.Request) {})
	srv := proxytest.NewServer(t, h, proxy.WithMaxInflight(2), proxy.WithMaxQueryBuffer(64<<10), proxy.WithReplyTimeout(0))
	c := proxytest.Dial(t, srv.Addr())
	chunk := bytes.Repeat([]byte("*1\r\n$4\r\nPING\r\n"), 1024)
	var err error
	for i := 0; i < 1000 && err == nil; i++ { // at most 14 MiB: far past the limit
		_ = c.Conn().SetWriteDeadline(time.Now().Add(proxytest.Timeout))
		_, err = c.Conn().Write(chunk)
	}
	if err == nil {
		// Everything was accepted by the kernel: the close must show on the read side.
		_, err = c.ReadErr()
	}
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the connection is still open past its query buffer limit: %v", err)
	}
}

func TestStatsGauges(t *testing.T) {
	t.Parallel()
	mw := &holdFirst{delay: time.Hour} // holds until the test ends
	h := proxy.HandlerFunc(func(context.Context, proxy.ReplyWriter, *proxy.Request) {})
	srv := proxytest.NewServer(t, proxy.Chain(h, mw), proxy.WithReplyTimeout(0))
	c := proxytest.Dial(t, srv.Addr())
	c.Send(append([][]string{{"AUTH", "x"}}, echoCmds("g", 5)...)...)
	// AUTH is held and unanswered, the 5 ECHOs wait behind it.
	deadline := time.Now().Add(proxytest.Timeout)
	for {
		st := srv.Stats()
		if st.Conns == 1 && st.Inflight == 6 && st.Pending == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want 1 conn, 6 in flight, 5 pending", st)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
	c.Conn().Close()
	for deadline = time.Now().Add(proxytest.Timeout); ; {
		st := srv.Stats()
		if st.Conns == 0 && st.Inflight == 0 && st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after close: stats %+v, want all zero", st)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDialFrom(t *testing.T) {
	t.Parallel()
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		host, _, _ := net.SplitHostPort(req.Conn().RemoteAddr().String())
		w.WriteReply(resp.BulkString(host))
	})
	srv := proxytest.NewServer(t, h)
	if v := proxytest.DialFrom(t, srv.Addr(), "127.0.0.2").Do("WHO"); string(v.Str) != "127.0.0.2" {
		t.Fatalf("the server saw %v, want 127.0.0.2", v)
	}
}

// TestBypassed checks Request.Bypassed: the end of a chain learns which commands a
// middleware answered before they reached it, each name once, 64 at most but for EXEC
// and DISCARD; without a chain nothing is kept.
func TestBypassed(t *testing.T) {
	t.Parallel()
	got := make(chan []string, 1)
	end := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if req.Is("ping") {
			got <- req.Bypassed()
		}
		w.WriteReply(echoValue(req))
	})
	refuse := proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		if strings.HasPrefix(string(req.Args()[0]), "x") || req.Is("exec") {
			w.WriteReply(resp.Error("ERR", "refused"))
			return
		}
		next.ServeRESP(ctx, w, req)
	})
	var cmds [][]string
	var want []string
	for i := range 100 {
		name := "x" + strconv.Itoa(i)
		cmds = append(cmds, []string{name}, []string{name})
		if i < 64 {
			want = append(want, name)
		}
	}
	cmds = append(cmds, []string{"EXEC"}, []string{"PING"})
	want = append(want, "exec")
	for _, tc := range []struct {
		name string
		h    proxy.Handler
		want []string
	}{
		{"chain", proxy.Chain(end, refuse), want},
		{"no chain", end, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := proxytest.Dial(t, proxytest.NewServer(t, tc.h).Addr())
			c.Send(cmds...)
			for range cmds {
				c.Read()
			}
			if b := <-got; !slices.Equal(b, tc.want) {
				t.Errorf("Bypassed = %q, want %q", b, tc.want)
			}
			c.Send([]string{"PING"})
			c.Read()
			if b := <-got; b != nil {
				t.Errorf("Bypassed of the next command = %q, want none", b)
			}
		})
	}
}
