package router_test

import (
	"context"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// idOf returns the client ID the proxy gave c.
func idOf(t *testing.T, c *proxytest.Client) string {
	t.Helper()
	v := c.Do("CLIENT", "ID")
	if v.Type != resp.TypeInteger {
		t.Fatalf("CLIENT ID = %s", reply(v))
	}
	return strconv.FormatInt(v.Int, 10)
}

// TestClientCommandsOfTheProxy checks that the CLIENT commands about other clients
// speak of the proxy's clients, by the IDs the proxy gave them: LIST, KILL, UNBLOCK,
// TRACKING REDIRECT and GETREDIR; and that CLIENT REPLY drops replies as Redis does.
func TestClientCommandsOfTheProxy(t *testing.T) {
	st := newStack(t, nil)
	dial := func() *proxytest.Client { return proxytest.Dial(t, st.proxy.Addr()) }

	t.Run("list and kill", func(t *testing.T) {
		a, b := dial(), dial()
		aid := idOf(t, a)
		if got := reply(a.Do("CLIENT", "SETNAME", "alpha")); got != "+OK\r\n" {
			t.Fatal(got)
		}
		list := string(b.Do("CLIENT", "LIST").Str)
		if !strings.Contains(list, "id="+aid+" addr=") || !strings.Contains(list, "name=alpha") || !strings.Contains(list, "cmd=client|list") {
			t.Fatalf("CLIENT LIST does not show the proxy's clients:\n%s", list)
		}
		if strings.Contains(list, st.redis.Addr()) {
			t.Fatalf("CLIENT LIST shows a server connection:\n%s", list)
		}
		if got := string(b.Do("CLIENT", "LIST", "ID", aid).Str); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "id="+aid+" ") {
			t.Fatalf("CLIENT LIST ID %s = %q", aid, got)
		}
		if got := reply(b.Do("CLIENT", "KILL", "ID", aid)); got != ":1\r\n" {
			t.Fatalf("CLIENT KILL ID = %q", got)
		}
		if _, err := a.ReadErr(); err != io.EOF {
			t.Fatalf("the killed client reads %v, want EOF", err)
		}
		if got := reply(b.Do("CLIENT", "KILL", "ID", aid)); got != ":0\r\n" {
			t.Fatalf("CLIENT KILL of a client gone = %q", got)
		}
		if got := reply(b.Do("CLIENT", "KILL", "127.0.0.1:1")); got != "-ERR No such client\r\n" {
			t.Fatalf("CLIENT KILL addr of nobody = %q", got)
		}
	})

	t.Run("unblock", func(t *testing.T) {
		client, b := dial(), dial()
		bid := idOf(t, client)
		client.Send([]string{"BLPOP", "unblock:q", "0"})
		eventually(t, "the client blocked", func() (bool, string) {
			n := blocked(t, st)
			return n == 1, strconv.Itoa(n) + " blocked"
		})
		if list := string(b.Do("CLIENT", "LIST", "ID", bid).Str); !strings.Contains(list, "flags=b") {
			t.Errorf("CLIENT LIST of a blocked client: %q", list)
		}
		if got := reply(b.Do("CLIENT", "UNBLOCK", bid)); got != ":1\r\n" {
			t.Fatalf("CLIENT UNBLOCK = %q", got)
		}
		if got := reply(client.Read()); got != "*-1\r\n" {
			t.Fatalf("the unblocked BLPOP = %q", got)
		}
		if got := reply(b.Do("CLIENT", "UNBLOCK", bid)); got != ":0\r\n" {
			t.Fatalf("CLIENT UNBLOCK of a client not blocked = %q", got)
		}
	})

	t.Run("info fields as redis", func(t *testing.T) {
		// The fields of Redis's CLIENT INFO, in its order (a newer Redis's may follow),
		// and qbuf the size of the command, as Redis counts it.
		fields := func(c *proxytest.Client) (keys []string, qbuf string) {
			for _, f := range strings.Fields(string(c.Do("CLIENT", "INFO").Str)) {
				k, v, _ := strings.Cut(f, "=")
				keys = append(keys, k)
				if k == "qbuf" {
					qbuf = v
				}
			}
			return keys, qbuf
		}
		want, wantQ := fields(proxytest.Dial(t, st.redis.Addr()))
		got, gotQ := fields(dial())
		if len(got) < len(want) || !slices.Equal(got[:len(want)], want) || gotQ != wantQ {
			t.Errorf("CLIENT INFO fields %q qbuf %s, redis's %q qbuf %s", got, gotQ, want, wantQ)
		}
	})

	t.Run("reply", func(t *testing.T) {
		c := dial()
		c.Send([]string{"CLIENT", "REPLY", "OFF"}, []string{"SET", "reply:x", "1"}, []string{"CLIENT", "REPLY", "ON"},
			[]string{"CLIENT", "REPLY", "SKIP"}, []string{"SET", "reply:y", "2"}, []string{"GET", "reply:x"}, []string{"GET", "reply:y"})
		for _, want := range []string{"+OK\r\n", "$1\r\n1\r\n", "$1\r\n2\r\n"} {
			if got := reply(c.Read()); got != want {
				t.Fatalf("reply %q, want %q", got, want)
			}
		}
	})

	t.Run("reply off as redis", func(t *testing.T) {
		// Errors are silenced too, and queued commands; subscription confirmations and
		// messages are pushed, so CLIENT REPLY OFF or SKIP does not silence them. The
		// same replies as from Redis, in both protocols; each sequence ends with the
		// +OK of CLIENT REPLY ON.
		for _, cmds := range [][][]string{
			{{"CLIENT", "REPLY", "OFF"}, {"SUBSCRIBE", "ro:a", "ro:b"}, {"PSUBSCRIBE", "ro:*"},
				{"CLIENT", "REPLY", "SKIP"}, {"UNSUBSCRIBE", "ro:a"}, {"PING"}, {"UNSUBSCRIBE"}, {"PUNSUBSCRIBE"},
				{"CLIENT", "REPLY", "ON"}},
			{{"CLIENT", "REPLY", "OFF"}, {"GET"}, {"NOSUCH"}, {"CLIENT", "REPLY", "NOPE"}, {"MULTI"},
				{"SET", "ro:k", "1"}, {"CLIENT", "SETNAME", "x"}, {"EXEC"}, {"CLIENT", "REPLY", "SKIP"},
				{"CLIENT", "REPLY", "ON"}},
		} {
			for _, proto := range []string{"2", "3"} {
				var got [2][]string
				for i, addr := range []string{st.redis.Addr(), st.proxy.Addr()} {
					c := proxytest.Dial(t, addr)
					c.Do("HELLO", proto)
					c.Send(cmds...)
					for {
						r := reply(c.Read())
						got[i] = append(got[i], r)
						if r == "+OK\r\n" {
							break
						}
					}
				}
				if strings.Join(got[0], "") != strings.Join(got[1], "") {
					t.Errorf("%q in RESP%s: proxy %q, redis %q", cmds, proto, got[1], got[0])
				}
			}
		}
	})

	t.Run("tracking redirect", func(t *testing.T) {
		sub, tr, writer := dial(), dial(), dial()
		sid := idOf(t, sub)
		if got := reply(sub.Do("SUBSCRIBE", "__redis__:invalidate")); !strings.Contains(got, "__redis__:invalidate") {
			t.Fatal(got)
		}
		if got := reply(tr.Do("CLIENT", "TRACKING", "on", "REDIRECT", sid)); got != "+OK\r\n" {
			t.Fatalf("CLIENT TRACKING REDIRECT %s = %q", sid, got)
		}
		if got := reply(tr.Do("CLIENT", "GETREDIR")); got != ":"+sid+"\r\n" {
			t.Fatalf("CLIENT GETREDIR = %q, want %s", got, sid)
		}
		tr.Do("GET", "tracked:k")
		writer.Do("SET", "tracked:k", "v")
		if got := reply(sub.Read()); !strings.Contains(got, "tracked:k") || !strings.Contains(got, "invalidate") {
			t.Fatalf("invalidation = %q", got)
		}
		if got := reply(tr.Do("CLIENT", "TRACKING", "on", "REDIRECT", "999999")); got != "-ERR The client ID you want redirect to does not exist\r\n" {
			t.Fatalf("REDIRECT to no client = %q", got)
		}
	})

	t.Run("redirect broken by quit", func(t *testing.T) {
		// Once QUIT is answered, the server has let go of the client, as Redis has when
		// it answers QUIT: the next invalidation finds the redirection broken.
		target, tr, writer := dial(), dial(), dial()
		tid := idOf(t, target)
		target.Do("SUBSCRIBE", "__redis__:invalidate")
		tr.Do("HELLO", "3")
		if got := reply(tr.Do("CLIENT", "TRACKING", "on", "REDIRECT", tid)); got != "+OK\r\n" {
			t.Fatalf("CLIENT TRACKING REDIRECT %s = %q", tid, got)
		}
		tr.Do("GET", "broken:k")
		if got := reply(target.Do("QUIT")); got != "+OK\r\n" {
			t.Fatalf("QUIT = %q", got)
		}
		writer.Do("SET", "broken:k", "v")
		want := ">2\r\n$21\r\ntracking-redir-broken\r\n:" + tid + "\r\n"
		if got := reply(tr.Read()); got != want {
			t.Fatalf("after the redirection quit: %q, want %q", got, want)
		}
	})
}

// TestAuthToServerUsers logs clients in to the server's own ACL users through a proxy
// with no auth middleware: each then runs with its user's rights, and a wrong password
// is answered as Redis answers it.
func TestAuthToServerUsers(t *testing.T) {
	s := redistest.Start(t, redistest.Args(
		"--user", "default", "on", "nopass", "~*", "&*", "+@all",
		"--user", "alice", "on", ">alicepw", "~*", "&*", "+@all",
		"--user", "bob", "on", ">bobpw", "~*", "+get", "+ping", "+auth", "+hello"))
	st := newStackOn(t, s, nil)
	alice, bob := proxytest.Dial(t, st.proxy.Addr()), proxytest.Dial(t, st.proxy.Addr())
	direct := proxytest.Dial(t, s.Addr())
	for _, step := range []struct {
		c    *proxytest.Client
		cmd  []string
		want string
	}{
		{alice, []string{"AUTH", "alice", "wrong"}, reply(direct.Do("AUTH", "alice", "wrong"))},
		{alice, []string{"AUTH", "alice", "alicepw"}, "+OK\r\n"},
		{alice, []string{"SET", "acl:k", "v"}, "+OK\r\n"},
		{alice, []string{"ACL", "WHOAMI"}, "$5\r\nalice\r\n"},
		{bob, []string{"ACL", "WHOAMI"}, "$7\r\ndefault\r\n"},
		{bob, []string{"HELLO", "2", "AUTH", "bob", "bobpw"}, "*"},
		{bob, []string{"GET", "acl:k"}, "$1\r\nv\r\n"},
		{bob, []string{"SET", "acl:k", "w"}, "-NOPERM"},
		{bob, []string{"DEL", "acl:k"}, "-NOPERM"},
		{alice, []string{"GET", "acl:k"}, "$1\r\nv\r\n"},
		{bob, []string{"SUBSCRIBE", "acl:ch"}, "-NOPERM"}, // on a dedicated connection of bob's too
		// The proxy answers CLIENT LIST, KILL, UNBLOCK itself, with the server's rules.
		{bob, []string{"CLIENT", "LIST"}, "-NOPERM"},
		{bob, []string{"CLIENT", "KILL", "ID", "1"}, "-NOPERM"},
		{bob, []string{"CLIENT", "UNBLOCK", "1"}, "-NOPERM"},
		{alice, []string{"CLIENT", "LIST"}, "$"},
		{alice, []string{"CLIENT", "UNBLOCK", "1"}, ":0"},
		{bob, []string{"AUTH", "bob", "wrong"}, "-WRONGPASS"},
		{bob, []string{"SET", "acl:k", "w"}, "-NOPERM"}, // still bob
		{bob, []string{"RESET"}, "+RESET"},
		{bob, []string{"ACL", "WHOAMI"}, "$7\r\ndefault\r\n"},
		{bob, []string{"SET", "acl:k", "w"}, "+OK"},
		{bob, []string{"HELLO", "2", "AUTH", "bob", "wrong", "AUTH", "bob", "bobpw"}, "-WRONGPASS"}, // each AUTH, in order
		{bob, []string{"SET", "acl:k", "w"}, "+OK"},                                                 // still default
	} {
		got := reply(step.c.Do(step.cmd...))
		if !strings.HasPrefix(got, step.want) {
			t.Errorf("%q = %q, want %q", step.cmd, got, step.want)
		}
	}

	t.Run("pipelined", func(t *testing.T) {
		// The commands right behind AUTH run as its user.
		c := proxytest.Dial(t, st.proxy.Addr())
		c.Send([]string{"AUTH", "bob", "bobpw"}, []string{"SET", "acl:k", "x"}, []string{"GET", "acl:k"})
		for _, want := range []string{"+OK", "-NOPERM", "$1\r\nw"} {
			if got := reply(c.Read()); !strings.HasPrefix(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		}
	})

	t.Run("clients of a user share connections", func(t *testing.T) {
		// As many server connections logged in as bob as the backend keeps for any
		// user, whatever the number of bob's clients: not one each.
		const n = 32
		for range n {
			c := proxytest.Dial(t, st.proxy.Addr())
			if got := reply(c.Do("AUTH", "bob", "bobpw")); got != "+OK\r\n" {
				t.Fatalf("AUTH = %q", got)
			}
			if got := reply(c.Do("GET", "acl:k")); got != "$1\r\nw\r\n" {
				t.Fatalf("GET = %q", got)
			}
		}
		list := string(direct.Do("CLIENT", "LIST", "USER", "bob").Str)
		if got, most := strings.Count(list, "\n"), redisbackend.DefaultConns+runtime.GOMAXPROCS(0); got > most {
			t.Errorf("%d clients logged in as bob hold %d server connections, want %d at most:\n%s", n, got, most, list)
		}
	})
}

// TestSharedLaneAfterServerLogin checks that the fan-out, which sends commands to the
// backend itself when the session's lane lets it (router.SharedLane, of export_test.go),
// leaves a client logged in to one of the server's users to the router: what it sent
// would run as the proxy's user.
func TestSharedLaneAfterServerLogin(t *testing.T) {
	s := redistest.Start(t, redistest.Args("--user", "bob", "on", ">bobpw", "~*", "+@all"))
	lanes := make(chan bool, 2)
	probe := proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		if req.Is("get") {
			_, ok := router.SharedLane(ctx, req.Conn())
			lanes <- ok
		}
		next.ServeRESP(ctx, w, req)
	})
	st := newStackOn(t, s, nil, probe)
	c := proxytest.Dial(t, st.proxy.Addr())
	for _, step := range []struct {
		cmd    []string
		shared bool // what SharedLane says of a GET
	}{
		{[]string{"GET", "lane:k"}, true},
		{[]string{"AUTH", "bob", "bobpw"}, false},
		{[]string{"GET", "lane:k"}, false},
	} {
		if got := reply(c.Do(step.cmd...)); strings.HasPrefix(got, "-") {
			t.Fatalf("%q = %q", step.cmd, got)
		}
		if step.cmd[0] == "GET" {
			if ok := <-lanes; ok != step.shared {
				t.Errorf("SharedLane before %q = %v, want %v", step.cmd, ok, step.shared)
			}
		}
	}
}
