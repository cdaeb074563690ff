package proxy_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// TestPipeConnPipelines checks that connections served by ServeConn, without a socket,
// keep the contracts of listened ones: many clients pipelining commands answered at
// random times get their own replies in order, and a hold keeps a pipeline behind it.
func TestPipeConnPipelines(t *testing.T) {
	t.Parallel()
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		v := echoValue(req).Clone()
		if rand.IntN(4) == 0 {
			w.WriteReply(v)
			return
		}
		time.AfterFunc(time.Duration(rand.IntN(1000))*time.Microsecond, func() { w.WriteReply(v) })
	})
	srv := proxytest.NewPipeServer(t, h, proxy.WithMaxPending(8), proxy.WithMaxInflight(16))
	if srv.Addr() != "" {
		t.Fatalf("a pipe server has address %q, want none", srv.Addr())
	}
	var wg sync.WaitGroup
	for i := range 20 {
		c := srv.Pipe(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmds := echoCmds(fmt.Sprintf("c%d-", i), 300)
			for rest := cmds; len(rest) > 0; {
				n := min(len(rest), 1+rand.IntN(64))
				c.Send(rest[:n]...)
				rest = rest[n:]
			}
			for j, cmd := range cmds {
				if v, err := c.ReadErr(); err != nil || string(v.Str) != cmd[1] {
					t.Errorf("conn %d: reply %d = %v (%v), want %q", i, j, v, err, cmd[1])
					return
				}
			}
		}()
	}
	wg.Wait()

	mw := &holdFirst{delay: 20 * time.Millisecond}
	c := proxytest.NewPipeServer(t, proxy.Chain(echo, mw), proxy.WithMaxPending(8)).Pipe(t)
	cmds := append([][]string{{"AUTH", "x"}}, echoCmds("h", 100)...)
	c.Send(cmds...)
	if v := c.Read(); string(v.Str) != "OK" {
		t.Fatalf("AUTH reply %v", v)
	}
	expectEchoes(t, c, cmds[1:])
	if n := mw.overtook.Load(); n != 0 {
		t.Errorf("%d commands entered the chain while the connection was held", n)
	}
}

// TestPipeConnLifecycle checks QUIT, a client that hangs up, MaxClients and idle
// timeouts on connections served by ServeConn, and that Stats counts them.
func TestPipeConnLifecycle(t *testing.T) {
	t.Parallel()
	srv := proxytest.NewPipeServer(t, echo, proxy.WithMaxClients(2), proxy.WithIdleTimeout(time.Hour))
	c1 := srv.Pipe(t)
	c1.Send([]string{"PING"}, []string{"QUIT"}, []string{"PING"})
	if v := c1.Read(); string(v.Str) != "PONG" {
		t.Fatalf("PING: %v", v)
	}
	if v := c1.Read(); string(v.Str) != "OK" {
		t.Fatalf("QUIT: %v", v)
	}
	if v, err := c1.ReadErr(); err != io.EOF {
		t.Fatalf("after QUIT: %v %v, want EOF", v, err)
	}
	waitConns(t, srv.Server, 0) // c1 is released
	c2, c3 := srv.Pipe(t), srv.Pipe(t)
	for _, c := range []*proxytest.Client{c2, c3} {
		if v := c.Do("PING"); string(v.Str) != "PONG" {
			t.Fatalf("PING: %v", v)
		}
	}
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(server) }()
	c4 := proxytest.NewClient(t, client)
	if v := c4.Read(); string(v.Str) != "ERR max number of clients reached" {
		t.Fatalf("third client: %v", v)
	}
	if err := <-done; err == nil {
		t.Fatal("ServeConn over the client limit returned no error")
	}
	c2.Conn().Close()
	waitConns(t, srv.Server, 1)

	// Long enough for the PING to come first on a busy machine.
	idle := proxytest.NewPipeServer(t, echo, proxy.WithIdleTimeout(300*time.Millisecond))
	c := idle.Pipe(t)
	if v := c.Do("PING"); string(v.Str) != "PONG" {
		t.Fatalf("PING: %v", v)
	}
	if _, err := c.ReadErr(); err != io.EOF {
		t.Fatalf("idle pipe connection not closed: %v", err)
	}
}

// waitConns polls until srv has n client connections.
func waitConns(t *testing.T, srv *proxy.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(proxytest.Timeout)
	for srv.Stats().Conns != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", srv.Stats().Conns, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPipeConnShutdown checks that Shutdown answers what a pipe client sent before it,
// then closes the connection, and refuses new ones.
func TestPipeConnShutdown(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	var once sync.Once
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		v := echoValue(req).Clone()
		time.AfterFunc(10*time.Millisecond, func() { w.WriteReply(v) })
		if string(req.Args()[1]) == "s9" {
			once.Do(func() { close(arrived) })
		}
	})
	srv := proxy.New(h)
	client, server := net.Pipe()
	if err := srv.ServeConn(server); err != nil {
		t.Fatal(err)
	}
	c := proxytest.NewClient(t, client)
	cmds := echoCmds("s", 10)
	c.Send(cmds...)
	<-arrived
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), proxytest.Timeout)
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
	a, b := net.Pipe()
	defer a.Close()
	if err := srv.ServeConn(b); err != proxy.ErrServerClosed {
		t.Fatalf("ServeConn after Shutdown: %v, want ErrServerClosed", err)
	}
	if err := srv.ListenAndServe("127.0.0.1:0"); err == nil {
		t.Fatal("ListenAndServe after Shutdown succeeded")
	}
}

// TestPipeConnPushAndProtocol checks pushes and the protocol a handler records, on a
// connection served by ServeConn.
func TestPipeConnPushAndProtocol(t *testing.T) {
	t.Parallel()
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		c := req.Conn()
		switch {
		case req.Is("hello"):
			c.SetProtocol(3)
			w.WriteReply(resp.OK)
		case req.Is("sub"):
			w.WriteReply(resp.Integer(int64(c.Protocol())))
			go c.Push(resp.Value{Type: resp.TypePush, Elems: []resp.Value{resp.BulkString("message")}})
		default:
			w.WriteReply(resp.Integer(int64(c.Protocol())))
		}
	})
	c := proxytest.NewPipeServer(t, h).Pipe(t)
	if v := c.Do("PROTO"); v.Int != 2 {
		t.Fatalf("protocol before HELLO: %v, want 2", v)
	}
	c.Do("HELLO")
	if v := c.Do("SUB"); v.Int != 3 {
		t.Fatalf("protocol after HELLO: %v, want 3", v)
	}
	if v := c.Read(); v.Type != resp.TypePush || string(v.Elems[0].Str) != "message" {
		t.Fatalf("push: %v", v)
	}
}

// TestNewRequestConn checks that a request made by NewRequest has a working connection
// of its own: per-connection state, Hold and Post, Push.
func TestNewRequestConn(t *testing.T) {
	t.Parallel()
	key := proxy.NewConnKey[string]()
	req := proxy.NewRequest(resp.NewCommand("AUTH", "x"))
	c := req.Conn()
	if c == nil {
		t.Fatal("NewRequest has no connection")
	}
	key.Set(c, "alice")
	c.SetUser("alice")
	next := proxy.NewRequestOn(c, resp.NewCommand("GET", "k"))
	if next.Conn() != c || key.Get(next.Conn()) != "alice" || next.Conn().User() != "alice" {
		t.Fatal("NewRequestOn does not share its connection's state")
	}
	if other := proxy.NewRequest(resp.NewCommand("GET", "k")); other.Conn() == c || key.Get(other.Conn()) != "" {
		t.Fatal("two NewRequest connections share state")
	}
	release := c.Hold()
	ran := make(chan struct{})
	c.Post(func() {
		release()
		close(ran)
	})
	select {
	case <-ran:
	case <-time.After(proxytest.Timeout):
		t.Fatal("a function posted to a NewRequest connection did not run")
	}
	if !c.Push(resp.BulkString("x")) {
		t.Fatal("Push on a NewRequest connection refused")
	}
	if c.Protocol() != 2 || c.Closed() {
		t.Fatalf("protocol %d, closed %v: want 2 and open", c.Protocol(), c.Closed())
	}
}

// authGate stands for an auth middleware: it limits new connections (SetAuthRequired),
// holds the connection on AUTH and hands the decision to the test.
type authGate struct{ pending chan func(ok bool) }

func (g *authGate) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	c.SetAuthRequired(true)
	return ctx
}

func (g *authGate) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if !req.Is("auth") {
		next.ServeRESP(ctx, w, req)
		return
	}
	c := req.Conn()
	release := c.Hold()
	g.pending <- func(ok bool) {
		c.Post(func() {
			c.SetAuthRequired(!ok)
			w.WriteReply(resp.OK)
			release()
		})
	}
}

// TestAuthRequiredDefersThenBounds checks SetAuthRequired: a command over its limits
// behind an AUTH still being decided waits for the decision (and runs once the client
// is in), but what the client sends meanwhile is bounded by MaxDeferredInput: past it
// the command is refused, even if the AUTH then succeeds.
func TestAuthRequiredDefersThenBounds(t *testing.T) {
	t.Parallel()
	g := &authGate{pending: make(chan func(bool), 1)}
	srv := proxytest.NewPipeServer(t, proxy.Chain(echo, g))
	big := make([]byte, 20000)

	// Deferred, then served: AUTH and a 20 KB ECHO in one write.
	c := srv.Pipe(t)
	c.WriteRaw(append(resp.NewCommand("AUTH", "pw").AppendTo(nil), resp.NewCommand("ECHO", string(big)).AppendTo(nil)...))
	(<-g.pending)(true)
	if v := c.Read(); string(v.Str) != "OK" {
		t.Fatalf("AUTH: %v", v)
	}
	if v := c.Read(); len(v.Str) != len(big) {
		t.Fatalf("the big ECHO behind AUTH: %d bytes, want %d", len(v.Str), len(big))
	}

	// Bounded: on a pipe, each write returns once the proxy has taken the one before.
	c = srv.Pipe(t)
	c.WriteRaw(append(resp.NewCommand("AUTH", "pw").AppendTo(nil), "*2\r\n$4\r\nECHO\r\n$300000000\r\n"...))
	decide := <-g.pending
	chunk := make([]byte, 64<<10)
	for sent := 0; sent <= proxy.MaxDeferredInput+2*len(chunk); sent += len(chunk) {
		c.WriteRaw(chunk)
	}
	decide(true)
	if v := c.Read(); string(v.Str) != "OK" {
		t.Fatalf("AUTH: %v", v)
	}
	if v := c.Read(); string(v.Str) != "ERR Protocol error: unauthenticated bulk length" {
		t.Fatalf("after %d bytes behind a pending AUTH: %v, want the unauthenticated bulk length error", proxy.MaxDeferredInput, v)
	}
	if _, err := c.ReadErr(); err != io.EOF {
		t.Fatalf("connection not closed: %v", err)
	}
}
