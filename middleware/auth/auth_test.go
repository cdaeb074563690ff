package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redchain/redchain/middleware/auth"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

const (
	noauth    = "NOAUTH Authentication required."
	wrongpass = "WRONGPASS invalid username-password pair or user is disabled."
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

// staticUsers: default/pw, alice/secret (given as a hash), bob/pw2.
var staticUsers = auth.Config{Users: []auth.User{
	{Name: "default", Password: "pw"},
	{Name: "alice", Password: sha("secret")},
	{Name: "bob", Password: "pw2"},
}}

func TestNew(t *testing.T) {
	t.Parallel()
	never := auth.AuthenticatorFunc(func(context.Context, string, string, func(bool, error)) {})
	for _, tc := range []struct {
		name string
		cfg  auth.Config
		err  string // "" for a valid config
	}{
		{"users", staticUsers, ""},
		{"authenticator", auth.Config{Authenticator: never}, ""},
		{"both", auth.Config{Users: staticUsers.Users, Authenticator: never, Timeout: time.Second}, ""},
		{"nothing", auth.Config{}, "no Users and no Authenticator"},
		{"no name", auth.Config{Users: []auth.User{{Password: "x"}}}, "no name"},
		{"twice", auth.Config{Users: []auth.User{{Name: "a", Password: "x"}, {Name: "a", Password: "y"}}}, "twice"},
		{"empty password", auth.Config{Users: []auth.User{{Name: "a"}}}, "empty password"},
		{"bad hex", auth.Config{Users: []auth.User{{Name: "a", Password: "sha256:zz"}}}, "hex digits"},
		{"short hash", auth.Config{Users: []auth.User{{Name: "a", Password: "sha256:abcd"}}}, "hex digits"},
		{"negative timeout", auth.Config{Authenticator: never, Timeout: -time.Second}, "negative Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := auth.New(tc.cfg)
			switch {
			case tc.err == "" && (err != nil || a == nil):
				t.Fatalf("New = %v, %v; want an Auth", a, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("New error = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestStaticUsers(t *testing.T) {
	t.Parallel()
	srv := serve(t, newAuth(t, staticUsers))
	for _, tc := range []struct {
		name string
		cmds [][]string
		want []string
	}{
		{"password only is default", cmds("AUTH pw", "WHOAMI"), []string{"OK", "default"}},
		{"user and password", cmds("AUTH bob pw2", "WHOAMI"), []string{"OK", "bob"}},
		{"hashed password", cmds("AUTH alice secret", "WHOAMI", "PING"), []string{"OK", "alice", "PONG"}},
		{"hello auth", cmds("HELLO 2 AUTH alice secret", "WHOAMI"), []string{"hello 2", "alice"}},
		{"hello auth setname", cmds("hello 3 auth bob pw2 setname app", "WHOAMI"), []string{"hello 3 setname app", "bob"}},
		{"hello setname auth", cmds("HELLO 2 SETNAME app AUTH bob pw2"), []string{"hello 2 setname app"}},
		{"wrong password", cmds("AUTH alice nope", "PING"), []string{wrongpass, noauth}},
		{"wrong default password", cmds("AUTH nope", "PING"), []string{wrongpass, noauth}},
		{"unknown user", cmds("AUTH carol secret", "PING"), []string{wrongpass, noauth}},
		{"user is case sensitive", cmds("AUTH ALICE secret"), []string{wrongpass}},
		{"hello wrong password", cmds("HELLO 2 AUTH alice nope", "PING"), []string{wrongpass, noauth}},
		{"hello wrong then right", cmds("HELLO 2 AUTH alice nope AUTH alice secret", "PING"), []string{wrongpass, noauth}},
		{"hello right then wrong", cmds("HELLO 2 AUTH alice secret AUTH bob nope", "WHOAMI"), []string{wrongpass, "alice"}},
		{"hello twice right", cmds("HELLO 2 AUTH alice secret AUTH bob pw2", "WHOAMI"), []string{"hello 2", "bob"}},
		{"noauth", cmds("PING", "SET k v", "WHOAMI", "auth pw", "PING"), []string{noauth, noauth, noauth, "OK", "PONG"}},
		{"hello without auth passes", cmds("HELLO", "HELLO 2", "PING"), []string{"hello", "hello 2", noauth}},
		{"auth arity", cmds("AUTH", "PING"), []string{"ERR wrong number of arguments for 'auth' command", noauth}},
		{"auth too many", cmds("AUTH a b c"), []string{"ERR syntax error"}},
		{"hello bad version", cmds("HELLO x AUTH alice secret", "PING"), []string{"ERR Protocol version is not an integer or out of range", noauth}},
		{"hello unsupported version", cmds("HELLO 1 AUTH alice secret", "PING"), []string{"NOPROTO unsupported protocol version", noauth}},
		{"hello auth missing password", cmds("HELLO 2 AUTH alice", "PING"), []string{"ERR Syntax error in HELLO option 'AUTH'", noauth}},
		{"hello unknown option", cmds("HELLO 2 AUTH alice secret FOO", "PING"), []string{"ERR Syntax error in HELLO option 'FOO'", noauth}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expect(t, proxytest.Dial(t, srv.Addr()), tc.cmds, tc.want...)
		})
	}
}

func TestQuitBeforeAuth(t *testing.T) {
	t.Parallel()
	srv := serve(t, newAuth(t, staticUsers))
	c := proxytest.Dial(t, srv.Addr())
	expect(t, c, cmds("QUIT"), "OK")
	if v, err := c.ReadErr(); !errors.Is(err, io.EOF) {
		t.Fatalf("after QUIT read %v, %v; want EOF", v, err)
	}
}

// A connection may authenticate again; a failure keeps the user it had, as in Redis.
func TestReAuth(t *testing.T) {
	t.Parallel()
	cfg := staticUsers
	cfg.Authenticator = delayed(0, map[string]string{"carol": "pw3"})
	srv := serve(t, newAuth(t, cfg))
	c := proxytest.Dial(t, srv.Addr())
	expect(t, c, cmds("AUTH alice secret", "WHOAMI"), "OK", "alice")
	expect(t, c, cmds("AUTH bob wrong", "WHOAMI", "PING"), wrongpass, "alice", "PONG")
	expect(t, c, cmds("AUTH carol wrong", "WHOAMI"), wrongpass, "alice")
	expect(t, c, cmds("AUTH bob pw2", "WHOAMI"), "OK", "bob")
	expect(t, c, cmds("AUTH carol pw3", "WHOAMI"), "OK", "carol")
	expect(t, c, cmds("HELLO 2 AUTH dave x", "WHOAMI"), wrongpass, "carol")
	expect(t, c, cmds("AUTH", "WHOAMI"), "ERR wrong number of arguments for 'auth' command", "carol")
}

// Commands pipelined behind an asynchronous AUTH wait for it, and run as an
// authenticated client's (envoy#35983); after a failure they get -NOAUTH.
func TestAsyncPipelined(t *testing.T) {
	t.Parallel()
	srv := serve(t, newAuth(t, auth.Config{Authenticator: delayed(20*time.Millisecond, map[string]string{"alice": "secret", "default": "pw"})}))
	for _, tc := range []struct {
		name string
		cmds [][]string
		want []string
	}{
		{"ok", cmds("AUTH alice secret", "PING", "ECHO a", "WHOAMI"), []string{"OK", "PONG", "a", "alice"}},
		{"default", cmds("AUTH pw", "WHOAMI"), []string{"OK", "default"}},
		{"wrong", cmds("AUTH alice nope", "PING", "ECHO a", "WHOAMI"), []string{wrongpass, noauth, noauth, noauth}},
		{"hello", cmds("HELLO 2 AUTH alice secret SETNAME x", "PING", "WHOAMI"), []string{"hello 2 setname x", "PONG", "alice"}},
		{"hello wrong", cmds("HELLO 2 AUTH alice nope", "PING"), []string{wrongpass, noauth}},
		{"twice", cmds("AUTH alice nope", "PING", "AUTH alice secret", "PING"), []string{wrongpass, noauth, "OK", "PONG"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expect(t, proxytest.Dial(t, srv.Addr()), tc.cmds, tc.want...)
		})
	}
}

// A static user is decided by Users; other names go to the Authenticator.
func TestStaticBeforeAuthenticator(t *testing.T) {
	t.Parallel()
	calls := make(manual, 1)
	cfg := staticUsers
	cfg.Authenticator = calls
	srv := serve(t, newAuth(t, cfg))
	c := proxytest.Dial(t, srv.Addr())
	expect(t, c, cmds("AUTH alice wrong"), wrongpass) // alice is static: no call
	c.Send([]string{"AUTH", "carol", "pw3"})
	call := calls.next(t)
	if call.user != "carol" || call.password != "pw3" {
		t.Errorf("Authenticate(%q, %q), want carol, pw3", call.user, call.password)
	}
	call.done(true, nil)
	expect(t, c, cmds("WHOAMI"), "OK", "carol")
}

// An Authenticator that answers before it returns (inline) works like any other.
func TestAuthenticatorInline(t *testing.T) {
	t.Parallel()
	inline := auth.AuthenticatorFunc(func(_ context.Context, user, password string, done func(bool, error)) {
		done(user == "alice" && password == "secret", nil)
	})
	srv := serve(t, newAuth(t, auth.Config{Authenticator: inline}))
	expect(t, proxytest.Dial(t, srv.Addr()), cmds("AUTH alice nope", "PING", "AUTH alice secret", "PING"),
		wrongpass, noauth, "OK", "PONG")
}

// An Authenticator's error is not shown to the client, and leaves the state as it was.
func TestAuthenticatorError(t *testing.T) {
	t.Parallel()
	failing := auth.AuthenticatorFunc(func(_ context.Context, user, _ string, done func(bool, error)) {
		go done(false, errors.New("ldap: dial tcp 10.0.0.7:389: connection refused"))
	})
	cfg := staticUsers
	cfg.Authenticator = failing
	srv := serve(t, newAuth(t, cfg))
	c := proxytest.Dial(t, srv.Addr())
	expect(t, c, cmds("AUTH carol pw", "PING"), "ERR authentication service unavailable", noauth)
	expect(t, c, cmds("AUTH alice secret", "AUTH carol pw", "WHOAMI"), "OK", "ERR authentication service unavailable", "alice")
}

// An Authenticator that never answers: the check times out, its context is canceled, and
// a late answer is ignored.
func TestAuthenticatorTimeout(t *testing.T) {
	t.Parallel()
	calls := make(manual, 1)
	srv := serve(t, newAuth(t, auth.Config{Authenticator: calls, Timeout: 50 * time.Millisecond}))
	c := proxytest.Dial(t, srv.Addr())
	c.Send(cmds("AUTH alice secret", "PING", "WHOAMI")...)
	call := calls.next(t)
	for i, want := range []string{"ERR authentication timed out", noauth, noauth} {
		if v := c.Read(); string(v.Str) != want {
			t.Errorf("reply %d = %v, want %q", i, v, want)
		}
	}
	select {
	case <-call.ctx.Done():
	case <-time.After(wait):
		t.Fatal("the Authenticator's context was not canceled at the timeout")
	}
	call.done(true, nil) // late: ignored
	expect(t, c, cmds("PING"), noauth)
}

// A connection that closes while its check is in flight: the check's context is
// canceled, a late answer writes nothing, and the server goes on serving.
func TestClosedMidCheck(t *testing.T) {
	t.Parallel()
	calls := make(manual, 1)
	cfg := staticUsers
	cfg.Authenticator = calls
	srv := serve(t, newAuth(t, cfg))
	c := proxytest.Dial(t, srv.Addr())
	c.Send(cmds("AUTH carol pw", "PING", "SET k v")...)
	call := calls.next(t)
	c.Conn().Close()
	select {
	case <-call.ctx.Done():
	case <-time.After(wait):
		t.Fatal("the Authenticator's context was not canceled when the client closed")
	}
	call.done(true, nil) // after the close: ignored
	eventually(t, "the closed connection leaves the server", func() bool {
		st := srv.Stats()
		return st.Conns == 0 && st.Inflight == 0 && st.Pending == 0
	})
	// The answer may also come before the server has seen the close: no harm either.
	c2 := proxytest.Dial(t, srv.Addr())
	c2.Send(cmds("AUTH carol pw", "PING")...)
	call = calls.next(t)
	c2.Conn().Close()
	call.done(true, nil)
	expect(t, proxytest.Dial(t, srv.Addr()), cmds("AUTH alice secret", "PING"), "OK", "PONG")
}

// A request that belongs to no connection (proxy.NewRequest, in unit tests) is answered
// as on a fresh connection, and its AUTH remembered nowhere.
func TestWithoutConn(t *testing.T) {
	t.Parallel()
	cfg := staticUsers
	cfg.Authenticator = delayed(time.Millisecond, map[string]string{"carol": "pw3"})
	h := proxy.Chain(terminal, newAuth(t, cfg))
	for _, tc := range []struct {
		cmd  string
		want string
	}{
		{"AUTH alice secret", "OK"},
		{"AUTH alice nope", wrongpass},
		{"AUTH carol pw3", "OK"},
		{"AUTH carol nope", wrongpass},
		{"GET k", noauth},
		{"QUIT", "OK"},
	} {
		var rec proxytest.Recorder
		h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand(strings.Fields(tc.cmd)...)))
		if got := rec.Wait(t, 1); len(got) != 1 || string(got[0].Str) != tc.want {
			t.Errorf("%s: replies %v, want %q", tc.cmd, got, tc.want)
		}
	}
}
