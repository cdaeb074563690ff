package mirror_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/examples/mirror/mirror"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}

// backendTo returns a backend/redis to srv, closed when the test ends (after the proxy
// servers started later have stopped: cleanups run last first).
func backendTo(t *testing.T, srv *redistest.Server) backend.Backend {
	t.Helper()
	b, err := redis.New(redis.Config{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// setup starts a primary and a shadow redis-server and a proxy that mirrors the first to
// the second.
func setup(t *testing.T, cfg mirror.Config) (primary, shadow *redistest.Server, m *mirror.Mirror, addr string) {
	t.Helper()
	primary, shadow = redistest.Start(t), redistest.Start(t)
	if cfg.Shadow == nil {
		cfg.Shadow = backendTo(t, shadow)
	}
	m, err := mirror.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := proxytest.NewServer(t, proxy.Chain(router.New(backendTo(t, primary)), m))
	return primary, shadow, m, p.Addr()
}

// settled waits until no mirrored command is unsettled, and returns the counters.
func settled(t *testing.T, m *mirror.Mirror) mirror.Stats {
	t.Helper()
	deadline := time.Now().Add(proxytest.Timeout)
	for m.Stats().InFlight != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("mirrored commands still unsettled: %+v", m.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	return m.Stats()
}

// do sends a command and checks its reply.
func do(t *testing.T, c *proxytest.Client, want resp.Value, args ...string) {
	t.Helper()
	if v := c.Do(args...); v.String() != want.String() {
		t.Fatalf("%v: got %s, want %s", args, v, want)
	}
}

// bulks is an array of bulk strings.
func bulks(ss ...string) resp.Value {
	var vs []resp.Value
	for _, s := range ss {
		vs = append(vs, resp.BulkString(s))
	}
	return resp.Array(vs...)
}

// TestWritesReachTheShadow: the shadow gets the writes, and the replies of the shadow
// match the primary's when both hold the same data.
func TestWritesReachTheShadow(t *testing.T) {
	t.Parallel()
	_, shadow, m, addr := setup(t, mirror.Config{})
	c := proxytest.Dial(t, addr)
	do(t, c, resp.OK, "SET", "a", "1")
	do(t, c, resp.Integer(1), "INCR", "n")
	do(t, c, resp.Integer(1), "RPUSH", "l", "x")
	do(t, c, resp.BulkString("1"), "GET", "a")
	s := settled(t, m)
	ctx := context.Background()
	if v := shadow.Client().Get(ctx, "a").Val(); v != "1" {
		t.Errorf("shadow a = %q, want 1", v)
	}
	if v := shadow.Client().Get(ctx, "n").Val(); v != "1" {
		t.Errorf("shadow n = %q, want 1", v)
	}
	if v := shadow.Client().LRange(ctx, "l", 0, -1).Val(); len(v) != 1 || v[0] != "x" {
		t.Errorf("shadow l = %q, want [x]", v)
	}
	if s.Sent != 4 || s.Matched != 4 || s.Mismatched+s.Errors+s.Dropped != 0 {
		t.Errorf("stats %+v, want 4 sent and matched", s)
	}
}

// TestClientGetsThePrimarysReply: where the servers differ, the client reads the
// primary's data, and the difference is counted.
func TestClientGetsThePrimarysReply(t *testing.T) {
	t.Parallel()
	primary, shadow, m, addr := setup(t, mirror.Config{})
	ctx := context.Background()
	primary.Client().Set(ctx, "k", "primary", 0)
	shadow.Client().Set(ctx, "k", "shadow", 0)
	c := proxytest.Dial(t, addr)
	for range 3 {
		do(t, c, resp.BulkString("primary"), "GET", "k")
	}
	if s := settled(t, m); s.Sent != 3 || s.Mismatched != 3 || s.Matched != 0 {
		t.Errorf("stats %+v, want 3 sent, 3 mismatched", s)
	}
}

// TestStatefulCommandsStayOffTheShadow: commands of a client's own connection, and the
// commands of a connection in a transaction, on another database or subscribed, are not
// mirrored; the connection is mirrored again once it is back to the shared state.
func TestStatefulCommandsStayOffTheShadow(t *testing.T) {
	t.Parallel()
	primary, shadow, m, addr := setup(t, mirror.Config{})
	c := proxytest.Dial(t, addr)
	do(t, c, resp.OK, "MULTI")
	do(t, c, resp.Queued, "SET", "tx", "1")
	do(t, c, resp.Queued, "SET", "tx2", "1")
	do(t, c, resp.Array(resp.OK, resp.OK), "EXEC")
	do(t, c, resp.OK, "SELECT", "1")
	do(t, c, resp.OK, "SET", "db1", "1")
	do(t, c, resp.OK, "SELECT", "0")
	do(t, c, resp.OK, "SET", "back", "1")
	do(t, c, resp.NullArray, "BLPOP", "nothing", "0.01")
	s := proxytest.Dial(t, addr)
	do(t, s, resp.Array(resp.BulkString("subscribe"), resp.BulkString("ch"), resp.Integer(1)), "SUBSCRIBE", "ch")
	do(t, s, bulks("pong", ""), "PING")
	do(t, s, resp.SimpleString("RESET"), "RESET")
	do(t, s, resp.OK, "SET", "afterreset", "1")

	st := settled(t, m)
	ctx := context.Background()
	for _, k := range []string{"tx", "tx2", "db1"} {
		if n := shadow.Client().Exists(ctx, k).Val(); n != 0 {
			t.Errorf("the shadow has %q, set in a state it does not share", k)
		}
	}
	if n := primary.Client().Exists(ctx, "tx", "tx2").Val(); n != 2 {
		t.Errorf("the primary has %d of the transaction's keys, want 2", n)
	}
	for _, k := range []string{"back", "afterreset"} {
		if n := shadow.Client().Exists(ctx, k).Val(); n != 1 {
			t.Errorf("the shadow lacks %q", k)
		}
	}
	if st.Sent != 2 || st.Mismatched != 0 {
		t.Errorf("stats %+v, want 2 sent (SET back, SET afterreset)", st)
	}
}

// TestRESP3: a RESP3 client's commands are mirrored over RESP3, so that a map reply
// compares equal.
func TestRESP3(t *testing.T) {
	t.Parallel()
	_, _, m, addr := setup(t, mirror.Config{})
	c := proxytest.Dial(t, addr)
	if v := c.Do("HELLO", "3"); v.IsError() {
		t.Fatalf("HELLO 3: %s", v)
	}
	do(t, c, resp.Integer(1), "HSET", "h", "f", "v")
	if v := c.Do("HGETALL", "h"); !strings.HasPrefix(v.String(), `"%1\r\n`) {
		t.Fatalf("HGETALL over RESP3: %s, want a map", v)
	}
	if s := settled(t, m); s.Sent != 2 || s.Matched != 2 {
		t.Errorf("stats %+v, want 2 sent and matched", s)
	}
}

// TestShadowDown: a shadow that is down changes nothing for clients; its failures are
// counted.
func TestShadowDown(t *testing.T) {
	t.Parallel()
	_, shadow, m, addr := setup(t, mirror.Config{})
	shadow.Kill()
	c := proxytest.Dial(t, addr)
	for range 20 {
		do(t, c, resp.OK, "SET", "a", "1")
		do(t, c, resp.BulkString("1"), "GET", "a")
	}
	if s := settled(t, m); s.Sent != 40 || s.Errors == 0 || s.Matched+s.Mismatched+s.Errors != 40 {
		t.Errorf("stats %+v, want 40 sent, every one settled, errors among them", s)
	}
}

// held is a shadow that answers nothing until release: a slow shadow.
type held struct {
	mu    sync.Mutex
	dones []func(resp.Value, error)
}

func (h *held) Send(_ context.Context, _ resp.Command, done func(resp.Value, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dones = append(h.dones, done)
}

func (h *held) Close() error { return nil }

// release answers every copy sent so far +OK.
func (h *held) release() {
	h.mu.Lock()
	dones := h.dones
	h.dones = nil
	h.mu.Unlock()
	for _, done := range dones {
		done(resp.OK, nil)
	}
}

// TestBounded: with MaxInflight copies unanswered, further commands are not mirrored,
// and their clients are served all the same.
func TestBounded(t *testing.T) {
	t.Parallel()
	h := &held{}
	_, _, m, addr := setup(t, mirror.Config{Shadow: h, MaxInflight: 3})
	c := proxytest.Dial(t, addr)
	for range 10 {
		do(t, c, resp.OK, "SET", "a", "1")
	}
	if s := m.Stats(); s.Sent != 3 || s.Dropped != 7 || s.InFlight != 3 {
		t.Errorf("stats %+v, want 3 sent, 7 dropped, 3 in flight", s)
	}
	h.release()
	do(t, c, resp.OK, "SET", "a", "1") // room again
	h.release()
	if s := settled(t, m); s.Sent != 4 || s.Matched != 4 || s.Dropped != 7 {
		t.Errorf("stats %+v, want 4 sent and matched, 7 dropped", s)
	}
}

// TestConformance: the mirror keeps the proxy's contracts, with a real shadow.
func TestConformance(t *testing.T) {
	t.Parallel()
	shadow := redistest.Start(t)
	m, err := mirror.New(mirror.Config{Shadow: backendTo(t, shadow)})
	if err != nil {
		t.Fatal(err)
	}
	proxytest.Conformance(t, proxytest.Suite{Middleware: m})
	if s := settled(t, m); s.Sent == 0 || s.Mismatched != 0 || s.Errors != 0 || s.Matched != s.Sent {
		t.Errorf("stats %+v, want every command sent matched", s)
	}
}

// TestConformanceMix: the mirror keeps the proxy's contracts with every kind of command
// (reads, writes, multi-key, blocking, transactions, pub/sub, large values, RESP3
// clients) between a real primary and a real shadow: every client reads what the
// primary alone would have answered.
func TestConformanceMix(t *testing.T) {
	t.Parallel()
	primary, shadow := redistest.Start(t), redistest.Start(t)
	m, err := mirror.New(mirror.Config{Shadow: backendTo(t, shadow)})
	if err != nil {
		t.Fatal(err)
	}
	proxytest.Conformance(t, proxytest.Suite{
		Middleware: m,
		Terminal: func(tb testing.TB) proxy.Handler {
			b, err := redis.New(redis.Config{Addr: primary.Addr()})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { b.Close() })
			return router.New(b)
		},
		Mix: proxytest.AllKinds,
	})
	if s := settled(t, m); s.Sent == 0 || s.Errors != 0 {
		t.Errorf("stats %+v, want commands sent to the shadow, none failed", s)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	for _, cfg := range []mirror.Config{{}, {Shadow: &held{}, MaxInflight: -1}} {
		if _, err := mirror.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}
