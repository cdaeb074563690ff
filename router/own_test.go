package router_test

import (
	"fmt"
	"strings"
	"testing"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// ownStack is a proxy of router.New(backend, WithOwnConnLimits(lim)) in front of a real
// redis-server, behind mws.
func ownStack(t *testing.T, lim router.OwnConnLimits, mws ...proxy.Middleware) (*router.Forward, *proxytest.Server, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	b, err := redisbackend.New(redisbackend.Config{Addr: srv.Addr(), Logger: testLogger(t, "backend")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	f := router.New(b, router.WithOwnConnLimits(lim))
	var h proxy.Handler = f
	if len(mws) > 0 {
		h = proxy.Chain(f, mws...)
	}
	return f, proxytest.NewServer(t, h, proxy.WithLogger(testLogger(t, "proxy"))), srv
}

// refusedBy reports whether v is the refusal of the cap named by what.
func refusedBy(v string, what string) bool {
	return strings.HasPrefix(v, "-ERR redchain: max number of server connections of their own reached") && strings.Contains(v, what)
}

// inUse waits until f counts n connections of clients' own.
func inUse(t *testing.T, f *router.Forward, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d connections of their own", n), func() (bool, string) {
		st := f.OwnConnStats()
		return st.InUse == n, fmt.Sprintf("%+v", st)
	})
}

// TestOwnConnLimitsPerAddress: two clients of one address block in BLPOP 0, each on a
// server connection of its own; a third of that address is refused, sent nothing, and
// its connection goes on; a client of another address is not; once a blocked client
// has gone, its place is free again.
func TestOwnConnLimitsPerAddress(t *testing.T) {
	t.Parallel()
	f, p, srv := ownStack(t, router.OwnConnLimits{PerAddress: 2})
	a, b := proxytest.Dial(t, p.Addr()), proxytest.Dial(t, p.Addr())
	a.Send([]string{"BLPOP", "qa", "0"})
	b.Send([]string{"BLPOP", "qb", "0"})
	inUse(t, f, 2)
	c := proxytest.Dial(t, p.Addr())
	if v := reply(c.Do("BLPOP", "qc", "0")); !refusedBy(v, "(2 per client address)") {
		t.Fatalf("a third BLPOP 0 from one address: %q, want the per-address refusal", v)
	}
	if v := reply(c.Do("SET", "k", "1")); v != "+OK\r\n" {
		t.Fatalf("the refused client's next command: %q", v)
	}
	other := proxytest.DialFrom(t, p.Addr(), "127.0.0.2")
	other.Send([]string{"BLPOP", "qo", "0"})
	inUse(t, f, 3)
	// Three clients are blocked on the server, not four.
	if n := srv.Client().Info(testCtx(t), "clients").Val(); !strings.Contains(n, "blocked_clients:3") {
		t.Fatalf("server's clients: %s, want 3 blocked", n)
	}
	a.Conn().Close()
	inUse(t, f, 2)
	c.Send([]string{"BLPOP", "qc", "0"})
	inUse(t, f, 3)
	if err := srv.Client().RPush(testCtx(t), "qc", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if v := reply(c.Read()); v != "*2\r\n$2\r\nqc\r\n$1\r\nx\r\n" {
		t.Fatalf("BLPOP once there was room: %q", v)
	}
	if st := f.OwnConnStats(); st.RefusedPerAddress != 1 || st.RefusedPerUser != 0 || st.RefusedTotal != 0 {
		t.Fatalf("stats %+v, want one refusal per address", st)
	}
}

// TestOwnConnLimitsPerUserAndTotal: per user (set by an auth middleware) and in total,
// for transactions, subscriptions and MONITOR alike.
func TestOwnConnLimitsPerUserAndTotal(t *testing.T) {
	t.Parallel()
	a, err := auth.New(auth.Config{Users: []auth.User{{Name: "alice", Password: "a"}, {Name: "bob", Password: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	f, p, _ := ownStack(t, router.OwnConnLimits{PerUser: 1, Total: 2}, a)
	login := func(user, pass string) *proxytest.Client {
		c := proxytest.Dial(t, p.Addr())
		if v := reply(c.Do("AUTH", user, pass)); v != "+OK\r\n" {
			t.Fatalf("AUTH %s: %q", user, v)
		}
		return c
	}
	alice1, alice2, bob, carol := login("alice", "a"), login("alice", "a"), login("bob", "b"), login("bob", "b")
	if v := reply(alice1.Do("MULTI")); v != "+OK\r\n" {
		t.Fatalf("alice's MULTI: %q", v)
	}
	if v := reply(alice2.Do("SUBSCRIBE", "ch")); !refusedBy(v, "(1 per user)") {
		t.Fatalf("alice's second connection's SUBSCRIBE: %q, want the per-user refusal", v)
	}
	if v := reply(bob.Do("MONITOR")); v != "+OK\r\n" {
		t.Fatalf("bob's MONITOR: %q", v)
	}
	inUse(t, f, 2)
	if v := reply(carol.Do("MULTI")); !refusedBy(v, "(1 per user)") && !refusedBy(v, "(2 in total)") {
		t.Fatalf("a third connection of its own: %q, want a refusal", v)
	}
	// alice's transaction goes on; once it has ended, its connection is given back with
	// the next command that needs none.
	if v := reply(alice1.Do("SET", "k", "v")); v != "+QUEUED\r\n" {
		t.Fatalf("SET in alice's transaction: %q", v)
	}
	if v := reply(alice1.Do("EXEC")); v != "*1\r\n+OK\r\n" {
		t.Fatalf("EXEC: %q", v)
	}
	if v := reply(alice1.Do("GET", "k")); v != "$1\r\nv\r\n" {
		t.Fatalf("GET after EXEC: %q", v)
	}
	bob.Conn().Close()
	inUse(t, f, 0)
	if v := reply(alice2.Do("SUBSCRIBE", "ch")); !strings.HasPrefix(v, "*3\r\n$9\r\nsubscribe") {
		t.Fatalf("alice's SUBSCRIBE once there was room: %q", v)
	}
	if st := f.OwnConnStats(); st.InUse != 1 || st.RefusedPerUser+st.RefusedTotal != 2 {
		t.Fatalf("stats %+v, want 1 in use and two refusals", st)
	}
}
