package ratelimit_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/middleware/ratelimit"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  ratelimit.Config
		want string // in the error; empty: no error
	}{
		{"ok", ratelimit.Config{Rate: 1, Burst: 1}, ""},
		{"zero rate", ratelimit.Config{Burst: 1}, "Rate"},
		{"negative rate", ratelimit.Config{Rate: -1, Burst: 1}, "Rate"},
		{"infinite rate", ratelimit.Config{Rate: math.Inf(1), Burst: 1}, "Rate"},
		{"zero burst", ratelimit.Config{Rate: 1}, "Burst"},
		{"bad per", ratelimit.Config{Rate: 1, Burst: 1, Per: 9}, "Per"},
		{"bad mode", ratelimit.Config{Rate: 1, Burst: 1, Mode: -1}, "Mode"},
		{"negative max delay", ratelimit.Config{Rate: 1, Burst: 1, MaxDelay: -1}, "MaxDelay"},
		{"negative idle ttl", ratelimit.Config{Rate: 1, Burst: 1, IdleTTL: -1}, "IdleTTL"},
		{"negative max keys", ratelimit.Config{Rate: 1, Burst: 1, MaxKeys: -1}, "MaxKeys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ratelimit.New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	for _, p := range []ratelimit.Per{ratelimit.IP, ratelimit.Conn, ratelimit.User, ratelimit.Global} {
		b, err := p.MarshalText()
		var q ratelimit.Per
		if err != nil || q.UnmarshalText(b) != nil || q != p || string(b) != p.String() {
			t.Errorf("Per %v: text %q (%v), back %v", p, b, err, q)
		}
	}
	for _, m := range []ratelimit.Mode{ratelimit.Reject, ratelimit.Delay} {
		b, err := m.MarshalText()
		var n ratelimit.Mode
		if err != nil || n.UnmarshalText(b) != nil || n != m || string(b) != m.String() {
			t.Errorf("Mode %v: text %q (%v), back %v", m, b, err, n)
		}
	}
	var p ratelimit.Per
	if err := p.UnmarshalText([]byte("host")); err == nil {
		t.Error(`Per.UnmarshalText("host") succeeded`)
	}
	var m ratelimit.Mode
	if err := m.UnmarshalText([]byte("wait")); err == nil {
		t.Error(`Mode.UnmarshalText("wait") succeeded`)
	}
}

// TestErrorReply checks the text of the refusal, which clients and operators match on.
func TestErrorReply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  ratelimit.Config
		want string
	}{
		{ratelimit.Config{Rate: 100, Burst: 1, Per: ratelimit.IP}, "-ERR rate limit exceeded: 100/s burst 1 per ip"},
		{ratelimit.Config{Rate: 0.5, Burst: 1, Per: ratelimit.Conn}, "-ERR rate limit exceeded: 0.5/s burst 1 per conn"},
		{ratelimit.Config{Rate: 1, Burst: 1, Per: ratelimit.Global, Mode: ratelimit.Delay, MaxDelay: 10 * time.Millisecond},
			"-ERR rate limit exceeded: 1/s burst 1 per global, max delay 10ms"},
	} {
		l := newLimiter(t, tc.cfg)
		h := proxy.Chain(proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
			w.WriteReply(resp.OK)
		}), l)
		rec := &proxytest.Recorder{}
		first := proxy.NewRequest(resp.NewCommand("GET", "k"))
		h.ServeRESP(context.Background(), rec, first)
		h.ServeRESP(context.Background(), rec, proxy.NewRequestOn(first.Conn(), resp.NewCommand("GET", "k")))
		got := rec.Wait(t, 2)
		if render(got[0]) != "+OK" || render(got[1]) != tc.want {
			t.Errorf("%+v: replies %s, %s; want +OK, %s", tc.cfg, render(got[0]), render(got[1]), tc.want)
		}
	}
}

func TestCost(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, ratelimit.Config{Rate: 1e-6, Burst: 5, Per: ratelimit.Global, Cost: func(req *proxy.Request) int {
		switch {
		case req.Is("ping"):
			return 0
		case req.Is("keys"):
			return 5
		case req.Is("flushall"):
			return 6
		}
		return 1
	}})
	h := proxy.Chain(proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
		w.WriteReply(resp.OK)
	}), l)
	do := func(args ...string) resp.Value {
		rec := &proxytest.Recorder{}
		h.ServeRESP(context.Background(), rec, proxy.NewRequest(resp.NewCommand(args...)))
		return rec.Wait(t, 1)[0]
	}
	if v := do("FLUSHALL"); !isLimited(v) {
		t.Errorf("FLUSHALL costs more than the burst: %s, want a refusal", render(v))
	}
	for i := range 20 {
		if v := do("PING"); v.IsError() {
			t.Fatalf("PING %d costs nothing: %s", i, render(v))
		}
	}
	if v := do("KEYS", "*"); v.IsError() {
		t.Fatalf("KEYS takes the whole burst of 5: %s", render(v))
	}
	if v := do("GET", "k"); !isLimited(v) {
		t.Errorf("GET after KEYS emptied the bucket: %s, want a refusal", render(v))
	}
	if v := do("PING"); v.IsError() {
		t.Errorf("PING on an empty bucket costs nothing: %s", render(v))
	}
}

// TestPer checks what shares a bucket: two connections from 127.0.0.1 and one from
// 127.0.0.2, with a burst of 3 and no refill to speak of.
func TestPer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		per ratelimit.Per
		// whether the second connection from 127.0.0.1 and the one from 127.0.0.2 get
		// through once the first connection has used its 3 tokens
		sameIP, otherIP bool
	}{
		{ratelimit.Conn, true, true},
		{ratelimit.IP, false, true},
		{ratelimit.User, false, true}, // nobody authenticated: keyed by IP
		{ratelimit.Global, false, false},
	} {
		t.Run(tc.per.String(), func(t *testing.T) {
			t.Parallel()
			srv := pongServer(t, newLimiter(t, ratelimit.Config{Rate: 1e-6, Burst: 3, Per: tc.per}))
			a := dialFrom(t, "127.0.0.1", srv.Addr())
			for i := range 3 {
				if v := a.Do("PING"); v.IsError() {
					t.Fatalf("PING %d: %s", i, render(v))
				}
			}
			if v := a.Do("PING"); !isLimited(v) {
				t.Fatalf("4th PING: %s, want a refusal", render(v))
			}
			b := dialFrom(t, "127.0.0.1", srv.Addr())
			if v := b.Do("PING"); isLimited(v) == tc.sameIP {
				t.Errorf("second connection from 127.0.0.1: %s, want through=%v", render(v), tc.sameIP)
			}
			c := dialFrom(t, "127.0.0.2", srv.Addr())
			if v := c.Do("PING"); isLimited(v) == tc.otherIP {
				t.Errorf("connection from 127.0.0.2: %s, want through=%v", render(v), tc.otherIP)
			}
		})
	}
}

// TestPerUser: connections authenticated as one user share its bucket, another user has
// their own, unauthenticated connections share their IP's, and a connection that
// authenticates moves to its user's bucket.
func TestPerUser(t *testing.T) {
	t.Parallel()
	srv := pongServer(t, login, newLimiter(t, ratelimit.Config{Rate: 1e-6, Burst: 2, Per: ratelimit.User}))
	addr := srv.Addr()
	expect := func(c *client, name string, through bool) {
		t.Helper()
		if v := c.Do("PING"); isLimited(v) == through {
			t.Errorf("%s: %s, want through=%v", name, render(v), through)
		}
	}
	alice1, alice2, bob := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	anon1, anon2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	alice1.Do("LOGIN", "alice")
	alice2.Do("LOGIN", "alice")
	bob.Do("LOGIN", "bob")

	expect(alice1, "alice 1st", true)
	expect(alice2, "alice 2nd, other conn", true)
	expect(alice1, "alice 3rd", false)
	expect(alice2, "alice 4th, other conn", false)
	expect(bob, "bob 1st", true)
	expect(anon1, "anonymous 1st", true)
	expect(anon2, "anonymous 2nd, same IP", true)
	expect(anon1, "anonymous 3rd", false)
	anon1.Do("LOGIN", "carol")
	expect(anon1, "carol 1st, after login", true)
	expect(anon2, "anonymous 4th", false)
	anon2.Do("LOGIN", "bob")
	expect(anon2, "bob 2nd, after login", true)
	expect(bob, "bob 3rd", false)
}

// TestMaxDelay: in Delay mode a command whose token would come later than MaxDelay is
// rejected at once, and its reservation given back.
func TestMaxDelay(t *testing.T) {
	t.Parallel()
	srv := pongServer(t, newLimiter(t, ratelimit.Config{
		Rate: 1, Burst: 1, Per: ratelimit.Conn, Mode: ratelimit.Delay, MaxDelay: 100 * time.Millisecond,
	}))
	c := proxytest.Dial(t, srv.Addr())
	start := time.Now()
	c.Send([]string{"PING"}, []string{"PING"}, []string{"PING"})
	want := []string{"+PONG", "-ERR rate limit exceeded: 1/s burst 1 per conn, max delay 100ms", "-ERR rate limit exceeded: 1/s burst 1 per conn, max delay 100ms"}
	for i, w := range want {
		if v := c.Read(); render(v) != w {
			t.Errorf("reply %d: %s, want %s", i, render(v), w)
		}
	}
	// The refusals come at once: nothing waited for a token that would come after 1s.
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("the replies took %v: a refused command waited", d)
	}
}

// TestDelayOrder: in Delay mode pipelined commands all go through, in order, and the
// last ones wait for their tokens.
func TestDelayOrder(t *testing.T) {
	t.Parallel()
	const n, burst, rate = 30, 5, 100
	var (
		mu   sync.Mutex
		seen []string
	)
	record := proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		mu.Lock()
		seen = append(seen, string(req.Args()[1]))
		mu.Unlock()
		next.ServeRESP(ctx, w, req)
	})
	srv := pongServer(t, newLimiter(t, ratelimit.Config{Rate: rate, Burst: burst, Per: ratelimit.IP, Mode: ratelimit.Delay}), record)
	c := proxytest.Dial(t, srv.Addr())
	var cmds [][]string
	for i := range n {
		cmds = append(cmds, []string{"ECHO", string(rune('a' + i))})
	}
	start := time.Now()
	c.Send(cmds...)
	for i := range n {
		if v := c.Read(); render(v) != "+PONG" {
			t.Fatalf("reply %d: %s", i, render(v))
		}
	}
	elapsed := time.Since(start)
	// Lower bound only: a loaded machine makes it slower, never faster.
	if min := time.Duration(float64(n-burst)/rate*float64(time.Second)) - 30*time.Millisecond; elapsed < min {
		t.Errorf("%d commands at %d/s, burst %d, took %v; want at least %v", n, rate, burst, elapsed, min)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("%d commands reached the handler, want %d", len(seen), n)
	}
	for i, s := range seen {
		if s != string(rune('a'+i)) {
			t.Fatalf("commands reached the handler as %v: out of order", seen)
		}
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	t.Run("Reject", func(t *testing.T) {
		proxytest.Conformance(t, proxytest.Suite{
			Middleware:  newLimiter(t, ratelimit.Config{Rate: 1000, Burst: 20, Per: ratelimit.Conn}),
			AllowErrors: true,
		})
	})
	for _, per := range []ratelimit.Per{ratelimit.Conn, ratelimit.IP, ratelimit.User, ratelimit.Global} {
		t.Run("Delay/"+per.String(), func(t *testing.T) {
			proxytest.Conformance(t, proxytest.Suite{
				Middleware: newLimiter(t, ratelimit.Config{Rate: 20000, Burst: 50, Per: per, Mode: ratelimit.Delay}),
			})
		})
	}
}
