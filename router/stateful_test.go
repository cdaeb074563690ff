package router_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// blocked returns how many clients the server has blocked.
func blocked(t *testing.T, st *stack) int {
	t.Helper()
	info, err := st.redis.Client().Info(testCtx(t), "clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "blocked_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no blocked_clients in %q", info)
	return 0
}

func TestTransactions(t *testing.T) {
	st := newStack(t, nil)
	ctx := testCtx(t)
	c := newClient(t, st.proxy.Addr(), nil)
	other := newClient(t, st.proxy.Addr(), nil)

	t.Run("exec", func(t *testing.T) {
		cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "tx:a", "1", 0)
			p.Incr(ctx, "tx:a")
			p.Get(ctx, "tx:a")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := result(cmds[2]); got != "2" {
			t.Fatalf("GET in the transaction = %s, want 2", got)
		}
	})

	t.Run("watch conflict", func(t *testing.T) {
		err := c.Watch(ctx, func(tx *redis.Tx) error {
			if _, err := tx.Get(ctx, "tx:w").Result(); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			// Another client writes the watched key before EXEC.
			if err := other.Set(ctx, "tx:w", "theirs", 0).Err(); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "tx:w", "mine", 0)
				return nil
			})
			return err
		}, "tx:w")
		if !errors.Is(err, redis.TxFailedErr) {
			t.Fatalf("Watch = %v, want the transaction aborted (%v)", err, redis.TxFailedErr)
		}
		if got := other.Get(ctx, "tx:w").Val(); got != "theirs" {
			t.Fatalf("tx:w = %q, want theirs", got)
		}
	})

	t.Run("watch without conflict", func(t *testing.T) {
		err := c.Watch(ctx, func(tx *redis.Tx) error {
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "tx:w2", "mine", 0)
				return nil
			})
			return err
		}, "tx:w2")
		if err != nil {
			t.Fatal(err)
		}
		if got := other.Get(ctx, "tx:w2").Val(); got != "mine" {
			t.Fatalf("tx:w2 = %q, want mine", got)
		}
	})

	t.Run("execabort and discard", func(t *testing.T) {
		rc := proxytest.Dial(t, st.proxy.Addr())
		for _, tc := range []struct {
			cmd  []string
			want string
		}{
			{[]string{"MULTI"}, "+OK\r\n"},
			{[]string{"SET", "tx:x"}, "-ERR wrong number of arguments for 'set' command\r\n"},
			{[]string{"SET", "tx:x", "1"}, "+QUEUED\r\n"},
			{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors.\r\n"},
			{[]string{"EXISTS", "tx:x"}, ":0\r\n"},
			{[]string{"MULTI"}, "+OK\r\n"},
			{[]string{"SET", "tx:x", "1"}, "+QUEUED\r\n"},
			{[]string{"DISCARD"}, "+OK\r\n"},
			{[]string{"EXISTS", "tx:x"}, ":0\r\n"},
			{[]string{"EXEC"}, "-ERR EXEC without MULTI\r\n"},
			{[]string{"DISCARD"}, "-ERR DISCARD without MULTI\r\n"},
		} {
			if got := reply(rc.Do(tc.cmd...)); got != tc.want {
				t.Errorf("%q = %q, want %q", tc.cmd, got, tc.want)
			}
		}
	})

	t.Run("100 clients pipelining MULTI EXEC", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := redis.NewClient(&redis.Options{Addr: st.proxy.Addr(), Protocol: 2, ReadTimeout: wait})
				defer cl.Close()
				key := fmt.Sprintf("tx:c%d", i)
				for j := range 5 {
					cmds, err := cl.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Incr(ctx, "tx:total")
						p.Incr(ctx, key)
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
					if got := result(cmds[1]); got != strconv.Itoa(j+1) {
						errs <- fmt.Errorf("%s = %s, want %d", key, got, j+1)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := other.Get(ctx, "tx:total").Val(); got != "500" {
			t.Fatalf("tx:total = %s, want 500", got)
		}
	})
}

func TestBlockingCommands(t *testing.T) {
	st := newStack(t, nil)
	ctx := testCtx(t)
	direct := st.redis.Client()

	t.Run("100 blocked, 100 busy", func(t *testing.T) {
		var wg sync.WaitGroup
		popped := make([]string, 100)
		errs := make(chan error, 200)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := redis.NewClient(&redis.Options{Addr: st.proxy.Addr(), Protocol: 2, ReadTimeout: -1})
				defer cl.Close()
				v, err := cl.BLPop(ctx, 0, fmt.Sprintf("bq:%d", i)).Result()
				if err != nil {
					errs <- err
					return
				}
				popped[i] = v[1]
			}()
		}
		eventually(t, "100 clients blocked", func() (bool, string) {
			n := blocked(t, st)
			return n == 100, fmt.Sprintf("%d blocked", n)
		})
		// Other clients are served while those are blocked.
		var busy sync.WaitGroup
		for i := range 100 {
			busy.Add(1)
			go func() {
				defer busy.Done()
				cl := redis.NewClient(&redis.Options{Addr: st.proxy.Addr(), Protocol: 2, ReadTimeout: wait})
				defer cl.Close()
				for j := range 20 {
					k := fmt.Sprintf("busy:%d:%d", i, j)
					if err := cl.Set(ctx, k, j, 0).Err(); err != nil {
						errs <- err
						return
					}
					if got := cl.Get(ctx, k).Val(); got != strconv.Itoa(j) {
						errs <- fmt.Errorf("GET %s = %q", k, got)
						return
					}
				}
			}()
		}
		busy.Wait()
		if n := blocked(t, st); n != 100 {
			t.Fatalf("%d clients blocked after the busy ones, want still 100", n)
		}
		for i := range 100 {
			if err := direct.RPush(ctx, fmt.Sprintf("bq:%d", i), fmt.Sprintf("v%d", i), "extra").Err(); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i, v := range popped {
			if v != fmt.Sprintf("v%d", i) {
				t.Errorf("client %d popped %q", i, v)
			}
			if n := direct.LLen(ctx, fmt.Sprintf("bq:%d", i)).Val(); n != 1 {
				t.Errorf("bq:%d has %d elements left, want 1: each client popped once", i, n)
			}
		}
	})

	t.Run("client gone while blocked", func(t *testing.T) {
		rc := proxytest.Dial(t, st.proxy.Addr())
		rc.Send([]string{"BLPOP", "gone:q", "0"})
		eventually(t, "client blocked", func() (bool, string) {
			n := blocked(t, st)
			return n == 1, fmt.Sprintf("%d blocked", n)
		})
		_ = rc.Conn().Close()
		eventually(t, "server connection closed", func() (bool, string) {
			n := blocked(t, st)
			return n == 0, fmt.Sprintf("%d blocked", n)
		})
		if err := direct.RPush(ctx, "gone:q", "x").Err(); err != nil {
			t.Fatal(err)
		}
		if got := direct.LRange(ctx, "gone:q", 0, -1).Val(); len(got) != 1 || got[0] != "x" {
			t.Fatalf("gone:q = %q: the element was popped for nobody", got)
		}
	})

	t.Run("timeout and pipelining", func(t *testing.T) {
		rc := proxytest.Dial(t, st.proxy.Addr())
		rc.Send([]string{"SET", "bt:k", "1"})
		rc.Send([]string{"BLPOP", "bt:empty", "0.1"})
		rc.Send([]string{"GET", "bt:k"})
		rc.Send([]string{"LPUSH", "bt:l", "a"})
		rc.Send([]string{"BRPOP", "bt:l", "1"})
		for _, want := range []string{"+OK\r\n", "*-1\r\n", "$1\r\n1\r\n", ":1\r\n", "*2\r\n$4\r\nbt:l\r\n$1\r\na\r\n"} {
			if got := reply(rc.Read()); got != want {
				t.Fatalf("reply %q, want %q", got, want)
			}
		}
	})
}

// TestBlockingOutlastsReplyTimeout checks that a blocking command waits as long as it
// asks, however short the proxy's reply timeout (a safety net for handlers that forget
// to reply): BLPOP k 0 for ever, BLPOP k 0.5 half a second.
func TestBlockingOutlastsReplyTimeout(t *testing.T) {
	s := redistest.Start(t)
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr(), Logger: testLogger(t, "backend")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := proxytest.NewServer(t, router.New(b), proxy.WithReplyTimeout(100*time.Millisecond),
		proxy.WithLogger(testLogger(t, "proxy")))
	forever, timed := proxytest.Dial(t, srv.Addr()), proxytest.Dial(t, srv.Addr())
	forever.Send([]string{"BLPOP", "rt:forever", "0"})
	// The server's own timeout of 0.5 s (five of the proxy's) orders what follows.
	if got := reply(timed.Do("BLPOP", "rt:timed", "0.5")); got != "*-1\r\n" {
		t.Fatalf("BLPOP rt:timed 0.5 = %q, want its own timeout's nil", got)
	}
	if got := reply(timed.Do("RPUSH", "rt:forever", "x")); got != ":1\r\n" {
		t.Fatal(got)
	}
	if got := reply(forever.Read()); got != "*2\r\n$10\r\nrt:forever\r\n$1\r\nx\r\n" {
		t.Fatalf("BLPOP rt:forever 0 = %q, want the element pushed after the reply timeout", got)
	}
}

func TestPubSub(t *testing.T) {
	st := newStack(t, nil)
	ctx := testCtx(t)
	pub := newClient(t, st.proxy.Addr(), nil)

	t.Run("50 subscribers, 10000 messages", func(t *testing.T) {
		const subscribers, messages = 50, 10000
		subs := make([]*redis.PubSub, subscribers)
		for i := range subs {
			cl := newClient(t, st.proxy.Addr(), nil)
			subs[i] = cl.Subscribe(ctx, "news")
			if _, err := subs[i].Receive(ctx); err != nil { // the confirmation
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = subs[i].Close() })
		}
		errs := make(chan error, subscribers)
		var wg sync.WaitGroup
		for _, sub := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range messages {
					m, err := sub.ReceiveMessage(ctx)
					if err != nil {
						errs <- err
						return
					}
					if m.Payload != strconv.Itoa(i) {
						errs <- fmt.Errorf("message %d = %q", i, m.Payload)
						return
					}
				}
			}()
		}
		p := pub.Pipeline()
		for i := range messages {
			p.Publish(ctx, "news", i)
			if i%500 == 499 {
				cmds, err := p.Exec(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cmds {
					if n := c.(*redis.IntCmd).Val(); n != subscribers {
						t.Fatalf("PUBLISH reached %d subscribers, want %d", n, subscribers)
					}
				}
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("patterns, unsubscribe, subscribe mode", func(t *testing.T) {
		rc := proxytest.Dial(t, st.proxy.Addr())
		for _, step := range []struct {
			send []string
			want []string
		}{
			{[]string{"PSUBSCRIBE", "p.*", "q.*"}, []string{"*3\r\n$10\r\npsubscribe\r\n$3\r\np.*\r\n:1\r\n", "*3\r\n$10\r\npsubscribe\r\n$3\r\nq.*\r\n:2\r\n"}},
			{[]string{"GET", "k"}, []string{"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"}},
			{[]string{"PING"}, []string{"*2\r\n$4\r\npong\r\n$0\r\n\r\n"}},
		} {
			rc.Send(step.send)
			for _, want := range step.want {
				if got := reply(rc.Read()); got != want {
					t.Fatalf("%q: %q, want %q", step.send, got, want)
				}
			}
		}
		if n := pub.Publish(ctx, "p.1", "hello").Val(); n != 1 {
			t.Fatalf("PUBLISH p.1 reached %d", n)
		}
		if got, want := reply(rc.Read()), "*4\r\n$8\r\npmessage\r\n$3\r\np.*\r\n$3\r\np.1\r\n$5\r\nhello\r\n"; got != want {
			t.Fatalf("message %q, want %q", got, want)
		}
		rc.Send([]string{"PUNSUBSCRIBE"})
		for _, want := range []string{"*3\r\n$12\r\npunsubscribe\r\n$3\r\n", "*3\r\n$12\r\npunsubscribe\r\n$3\r\n"} {
			if got := reply(rc.Read()); !strings.HasPrefix(got, want) {
				t.Fatalf("unsubscribe %q, want %q...", got, want)
			}
		}
		// Out of subscribe mode: back to ordinary commands.
		if got := reply(rc.Do("SET", "ps:k", "v")); got != "+OK\r\n" {
			t.Fatalf("SET after unsubscribing = %q", got)
		}
		if got := reply(rc.Do("UNSUBSCRIBE")); got != "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n" {
			t.Fatalf("UNSUBSCRIBE of nothing = %q", got)
		}
	})

	t.Run("RESP3 mixes SUBSCRIBE and GET", func(t *testing.T) {
		if err := pub.Set(ctx, "r3:k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		rc := proxytest.Dial(t, st.proxy.Addr())
		if got := reply(rc.Do("HELLO", "3")); !strings.HasPrefix(got, "%7\r\n") {
			t.Fatalf("HELLO 3 = %q", got)
		}
		rc.Send([]string{"SUBSCRIBE", "r3"})
		rc.Send([]string{"GET", "r3:k"})
		rc.Send([]string{"HSET", "r3:h", "f", "1"})
		rc.Send([]string{"HGETALL", "r3:h"})
		for _, want := range []string{">3\r\n$9\r\nsubscribe\r\n$2\r\nr3\r\n:1\r\n", "$1\r\nv\r\n", ":1\r\n", "%1\r\n$1\r\nf\r\n$1\r\n1\r\n"} {
			if got := reply(rc.Read()); got != want {
				t.Fatalf("%q, want %q", got, want)
			}
		}
		if n := pub.Publish(ctx, "r3", "m").Val(); n != 1 {
			t.Fatalf("PUBLISH r3 reached %d", n)
		}
		rc.Send([]string{"GET", "r3:k"})
		for _, want := range []string{">3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$1\r\nm\r\n", "$1\r\nv\r\n"} {
			if got := reply(rc.Read()); got != want {
				t.Fatalf("%q, want %q", got, want)
			}
		}
	})

	t.Run("go-redis RESP3", func(t *testing.T) {
		cl := newClient(t, st.proxy.Addr(), func(o *redis.Options) { o.Protocol = 3 })
		if err := cl.HSet(ctx, "r3:g", "a", "1", "b", "2").Err(); err != nil {
			t.Fatal(err)
		}
		if got := cl.HGetAll(ctx, "r3:g").Val(); len(got) != 2 || got["a"] != "1" {
			t.Fatalf("HGETALL = %v", got)
		}
		sub := cl.Subscribe(ctx, "r3g")
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(ctx, "r3g", "x").Err(); err != nil {
			t.Fatal(err)
		}
		if m, err := sub.ReceiveMessage(ctx); err != nil || m.Payload != "x" {
			t.Fatalf("message %v, %v", m, err)
		}
	})
}

func TestSelect(t *testing.T) {
	st := newStack(t, nil)
	ctx := testCtx(t)
	rc := proxytest.Dial(t, st.proxy.Addr())
	for _, step := range [][2]string{
		{"SELECT 3", "+OK\r\n"},
		{"SET sel:k three", "+OK\r\n"},
		{"GET sel:k", "$5\r\nthree\r\n"},
		{"SELECT 99", "-ERR DB index is out of range\r\n"},
		{"GET sel:k", "$5\r\nthree\r\n"},
		{"CLIENT INFO", ""},
		{"SELECT 0", "+OK\r\n"},
		{"GET sel:k", "$-1\r\n"},
	} {
		got := reply(rc.Do(strings.Fields(step[0])...))
		if step[1] == "" {
			if !strings.Contains(got, " db=3 ") {
				t.Errorf("%s = %q, want db=3", step[0], got)
			}
			continue
		}
		if got != step[1] {
			t.Errorf("%s = %q, want %q", step[0], got, step[1])
		}
	}
	db3 := redis.NewClient(&redis.Options{Addr: st.redis.Addr(), DB: 3, Protocol: 2})
	defer db3.Close()
	if got := db3.Get(ctx, "sel:k").Val(); got != "three" {
		t.Fatalf("db 3 of the server holds %q", got)
	}
	if n := st.redis.Client().Exists(ctx, "sel:k").Val(); n != 0 {
		t.Fatal("db 0 of the server holds sel:k")
	}
	other := newClient(t, st.proxy.Addr(), nil)
	if n := other.Exists(ctx, "sel:k").Val(); n != 0 {
		t.Fatal("another client on db 0 sees sel:k")
	}
	// go-redis selects its DB at connect time.
	cl3 := newClient(t, st.proxy.Addr(), func(o *redis.Options) { o.DB = 3 })
	if got := cl3.Get(ctx, "sel:k").Val(); got != "three" {
		t.Fatalf("a go-redis client of DB 3 reads %q", got)
	}
}

func TestClientCommands(t *testing.T) {
	st := newStack(t, nil)
	rc := proxytest.Dial(t, st.proxy.Addr())
	for _, step := range [][2]string{
		{"CLIENT GETNAME", "$-1\r\n"},
		{"CLIENT SETNAME app1", "+OK\r\n"},
		{"CLIENT GETNAME", "$4\r\napp1\r\n"},
		{"ECHO hi", "$2\r\nhi\r\n"},
		{"MULTI", "+OK\r\n"},
		{"RESET", "+RESET\r\n"},
		{"CLIENT GETNAME", "$-1\r\n"},
		{"EXEC", "-ERR EXEC without MULTI\r\n"},
		// Tracking is state of the client's own server connection, kept from now on.
		{"CLIENT TRACKING on", "+OK\r\n"},
		{"CLIENT GETREDIR", ":0\r\n"},
		{"SET trk 1", "+OK\r\n"},
		{"CLIENT TRACKING off", "+OK\r\n"},
		{"CLIENT GETREDIR", ":-1\r\n"},
		{"CLIENT NOSUCH", "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n"},
		{"CLIENT", "-ERR wrong number of arguments for 'client' command\r\n"},
		{"REPLCONF listening-port 1", "+OK\r\n"},
		{"SHUTDOWN", "-ERR command 'shutdown' is not allowed through the proxy\r\n"},
		{"CLUSTER INFO", "-ERR This instance has cluster support disabled\r\n"},
	} {
		if got := reply(rc.Do(strings.Fields(step[0])...)); got != step[1] {
			t.Errorf("%s = %q, want %q", step[0], got, step[1])
		}
	}
	if v := rc.Do("CLIENT", "ID"); v.Type != resp.TypeInteger {
		t.Errorf("CLIENT ID = %s", reply(v))
	}
}

// TestHelloAnywhere switches the protocol of a client that holds state on its dedicated
// connection (a database other than 0, a subscription): the connection switches with
// it, and the client's later commands get replies in the new protocol, in its database.
func TestHelloAnywhere(t *testing.T) {
	st := newStack(t, nil)
	c := proxytest.Dial(t, st.proxy.Addr())
	for _, step := range [][2]string{
		{"SELECT 3", "+OK\r\n"},
		{"HSET h f v", ":1\r\n"},
		{"HELLO 3", "%"}, // a map: only the type is checked
		{"HGETALL h", "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{"GET nokey", "_\r\n"},
		{"HELLO 2", "*"},
		{"HGETALL h", "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{"GET nokey", "$-1\r\n"},
		{"SELECT 0", "+OK\r\n"},
		{"EXISTS h", ":0\r\n"},
		{"HELLO 3", "%"},
		{"SUBSCRIBE ch", ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"},
		{"HELLO 2", "*"},
		{"PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n"}, // RESP2 subscribed: PING's pub/sub form
		{"UNSUBSCRIBE", "*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n"},
		{"PING", "+PONG\r\n"},
	} {
		got := reply(c.Do(strings.Fields(step[0])...))
		if want := step[1]; len(want) == 1 && !strings.HasPrefix(got, want) || len(want) > 1 && got != want {
			t.Errorf("%s = %q, want %q", step[0], got, want)
		}
	}
}

// TestTransactionsWhateverTheChain has a middleware answer commands of a transaction
// before they reach the router, as a rate limit or a denied command does: a command so
// answered fails the transaction (EXEC answers EXECABORT), as one Redis refuses does,
// and an EXEC so answered ends it, so that the client's next command is not queued.
func TestTransactionsWhateverTheChain(t *testing.T) {
	refuse := proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		if req.Is("incr") || req.Is("exec") && len(req.Args()) == 1 && strings.HasPrefix(req.Conn().RemoteAddr().String(), "127.0.0.2") {
			w.WriteReply(resp.Error("ERR", "refused by a middleware"))
			return
		}
		next.ServeRESP(ctx, w, req)
	})
	st := newStack(t, nil, refuse)
	c := proxytest.Dial(t, st.proxy.Addr())
	for _, step := range [][2]string{
		{"MULTI", "+OK\r\n"},
		{"SET chain:a 1", "+QUEUED\r\n"},
		{"INCR chain:a", "-ERR refused by a middleware\r\n"},
		{"EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		{"GET chain:a", "$-1\r\n"},
	} {
		if got := reply(c.Do(strings.Fields(step[0])...)); got != step[1] {
			t.Errorf("%s = %q, want %q", step[0], got, step[1])
		}
	}
	d := proxytest.DialFrom(t, st.proxy.Addr(), "127.0.0.2") // its EXEC is refused
	for _, step := range [][2]string{
		{"MULTI", "+OK\r\n"},
		{"SET chain:b 1", "+QUEUED\r\n"},
		{"EXEC", "-ERR refused by a middleware\r\n"},
		{"SET chain:c 1", "+OK\r\n"},
		{"GET chain:b", "$-1\r\n"},
		{"MULTI", "+OK\r\n"},
		{"DISCARD", "+OK\r\n"},
	} {
		if got := reply(d.Do(strings.Fields(step[0])...)); got != step[1] {
			t.Errorf("%s = %q, want %q", step[0], got, step[1])
		}
	}
}

// TestDedicatedInArrivalOrder: a client's first command for a dedicated connection,
// sent once its shared commands are answered, goes out in the same turn of the loop
// as other clients' commands read after it, not a turn later: a blocking XREAD sent
// just before another client's SET of the same key is blocked when the SET runs (so
// the XADD after it wakes the XREAD), as with one Redis. Before, the XREAD waited a
// turn and the SET overtook it in about 9 rounds of 10 (WRONGTYPE); now in about 1 of
// 100. The order of two clients' commands is not promised (two server connections),
// so the test asks for 40 rounds of 50.
func TestDedicatedInArrivalOrder(t *testing.T) {
	t.Parallel()
	st := newStack(t, nil)
	r := proxytest.Dial(t, st.proxy.Addr())
	inOrder := 0
	for range 50 {
		r.Do("DEL", "s")
		r.Do("XADD", "s", "1", "f", "v")
		rd := proxytest.Dial(t, st.proxy.Addr())
		rd.Do("PING") // on the shared connections, as a new client's first command
		rd.Send([]string{"XREAD", "BLOCK", "0", "STREAMS", "s", "$"})
		r.Do("SET", "s", "x")
		r.Do("DEL", "s")
		r.Do("XADD", "s", "2", "f", "v")
		if got := reply(rd.Read()); strings.Contains(got, "2-0") {
			inOrder++
		} else if !strings.HasPrefix(got, "-WRONGTYPE") {
			t.Fatalf("the XREAD got %q, want the entry added after the SET, or WRONGTYPE", got)
		}
		rd.Conn().Close()
	}
	if inOrder < 40 {
		t.Errorf("the XREAD was blocked before the SET in %d rounds of 50, want 40 at least", inOrder)
	}
}
