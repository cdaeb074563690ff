package proxytest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Timeout bounds every wait of the helpers in this package: a reply that takes longer
// fails the test instead of hanging it.
var Timeout = 10 * time.Second

// Server is a proxy.Server listening on a loopback port for the length of a test.
type Server struct {
	*proxy.Server
	addr string
}

// NewServer starts a proxy.Server around h on 127.0.0.1 and a free port. The server is
// shut down, and its goroutines waited for, when the test ends.
func NewServer(t testing.TB, h proxy.Handler, opts ...proxy.Option) *Server {
	t.Helper()
	srv := proxy.New(h, opts...)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe("127.0.0.1:0") }()
	select {
	case <-srv.Ready():
	case <-time.After(Timeout):
		t.Fatalf("proxytest: server did not start within %v", Timeout)
	}
	if srv.Addr() == nil {
		t.Fatalf("proxytest: server failed to start: %v", <-errc)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("proxytest: shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, proxy.ErrServerClosed) {
			t.Errorf("proxytest: ListenAndServe returned %v, want ErrServerClosed", err)
		}
	})
	return &Server{Server: srv, addr: srv.Addr().String()}
}

// Addr returns the server's "host:port", or "" for a server made by NewPipeServer.
func (s *Server) Addr() string { return s.addr }

// Client is a raw RESP client connection for tests: it writes bytes or commands and reads
// replies, each within Timeout.
type Client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
	rp   resp.ReplyParser
}

// Dial connects to addr; the connection is closed when the test ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	return DialFrom(t, addr, "")
}

// DialFrom connects to addr from the local IP address local ("" picks one), for tests
// of behaviour that depends on the client's address: on Linux every address of
// 127.0.0.0/8 is loopback, so "127.0.0.2" is a second client host.
func DialFrom(t testing.TB, addr, local string) *Client {
	t.Helper()
	d := net.Dialer{Timeout: Timeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("proxytest: dial %s from %q: %v", addr, local, err)
	}
	return NewClient(t, conn)
}

// NewClient wraps an open connection; it is closed when the test ends.
func NewClient(t testing.TB, conn net.Conn) *Client {
	t.Cleanup(func() { conn.Close() })
	return &Client{t: t, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
}

// Conn returns the underlying connection.
func (c *Client) Conn() net.Conn { return c.conn }

// WriteRaw writes b as it is.
func (c *Client) WriteRaw(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("proxytest: write: %v", err)
	}
}

// Send writes commands, all in one write (a pipeline).
func (c *Client) Send(cmds ...[]string) {
	c.t.Helper()
	var b []byte
	for _, cmd := range cmds {
		b = resp.NewCommand(cmd...).AppendTo(b)
	}
	c.WriteRaw(b)
}

// Read reads one reply.
func (c *Client) Read() resp.Value {
	c.t.Helper()
	v, err := c.ReadErr()
	if err != nil {
		c.t.Fatalf("proxytest: read: %v", err)
	}
	return v
}

// ReadErr reads one reply, returning the error (io.EOF when the server closed the
// connection) instead of failing the test.
func (c *Client) ReadErr() (resp.Value, error) {
	return c.ReadBefore(time.Now().Add(Timeout))
}

// ReadBefore is ReadErr waiting until deadline at most: for a test that expects no
// reply, or one that a command which blocks may withhold.
func (c *Client) ReadBefore(deadline time.Time) (resp.Value, error) {
	_ = c.conn.SetReadDeadline(deadline)
	for {
		if len(c.buf) > 0 {
			n, err := c.rp.Next(c.buf)
			if err != nil {
				return resp.Value{}, err
			}
			if n > 0 {
				v, _, err := resp.ParseValue(c.buf[:n], resp.Limits{})
				v = v.Clone()
				c.buf = c.buf[n:]
				return v, err
			}
		}
		chunk := make([]byte, 64<<10)
		m, err := c.r.Read(chunk)
		c.buf = append(c.buf, chunk[:m]...)
		if err != nil && m == 0 {
			return resp.Value{}, err
		}
	}
}

// Do sends one command and reads its reply.
func (c *Client) Do(args ...string) resp.Value {
	c.t.Helper()
	c.Send(args)
	return c.Read()
}

// Recorder is a proxy.ReplyWriter that keeps copies of the replies written to it, to
// call a handler directly in a unit test. It takes every reply, so that a test can see a
// second one. Safe for concurrent use; the zero value is ready.
type Recorder struct {
	mu      sync.Mutex
	replies []resp.Value
	waiters []chan struct{}
}

// WriteReply records a copy of v and reports true.
func (r *Recorder) WriteReply(v resp.Value) bool {
	r.mu.Lock()
	r.replies = append(r.replies, v.Clone())
	for _, w := range r.waiters {
		close(w)
	}
	r.waiters = nil
	r.mu.Unlock()
	return true
}

// Replies returns the replies written so far.
func (r *Recorder) Replies() []resp.Value {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]resp.Value(nil), r.replies...)
}

// Wait waits up to Timeout for at least n replies and returns them.
func (r *Recorder) Wait(t testing.TB, n int) []resp.Value {
	t.Helper()
	deadline := time.After(Timeout)
	for {
		r.mu.Lock()
		if len(r.replies) >= n {
			out := append([]resp.Value(nil), r.replies...)
			r.mu.Unlock()
			return out
		}
		ch := make(chan struct{})
		r.waiters = append(r.waiters, ch)
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("proxytest: %d replies after %v, want %d", len(r.Replies()), Timeout, n)
		}
	}
}

var _ proxy.ReplyWriter = (*Recorder)(nil)

// Pipeline measures a server end to end in a benchmark: for b.N commands it writes req
// (depth commands, already encoded) on a connection to addr and reads replyLen bytes of
// replies, with nothing allocated on the client's side, so that b.ReportAllocs shows the
// server's allocations per command.
func Pipeline(b *testing.B, addr string, req []byte, depth, replyLen int) {
	b.Helper()
	conn := Dial(b, addr).Conn()
	buf := make([]byte, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < replyLen; {
			n, err := conn.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}
