package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

func TestCommands(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr()})
	ctx := session(1)
	for _, tc := range []struct {
		name  string
		args  []string
		reply string
	}{
		{"ping", []string{"PING"}, "+PONG\r\n"},
		{"set", []string{"SET", "k", "v"}, "+OK\r\n"},
		{"get", []string{"GET", "k"}, "$1\r\nv\r\n"},
		{"get missing", []string{"GET", "missing"}, "$-1\r\n"},
		{"incr", []string{"INCR", "n"}, ":1\r\n"},
		{"rpush", []string{"RPUSH", "l", "a", "b"}, ":2\r\n"},
		{"lrange", []string{"LRANGE", "l", "0", "-1"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"empty array", []string{"LRANGE", "none", "0", "-1"}, "*0\r\n"},
		{"error reply", []string{"INCR", "k"}, "-ERR value is not an integer or out of range\r\n"},
		{"lower case", []string{"ping", "hi"}, "$2\r\nhi\r\n"},
		{"echo", []string{"ECHO", "x"}, "$1\r\nx\r\n"},
		{"eval", []string{"EVAL", "return redis.call('get', KEYS[1])", "1", "k"}, "$1\r\nv\r\n"},
	} {
		// Not parallel: the cases build on each other.
		reply, err := do(t, b, ctx, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if reply != tc.reply {
			t.Errorf("%s: reply %q, want %q", tc.name, reply, tc.reply)
		}
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr()})
	for _, args := range [][]string{
		{"SELECT", "1"}, {"select", "1"}, {"AUTH", "pw"}, {"HELLO", "3"}, {"QUIT"},
		{"SUBSCRIBE", "ch"}, {"psubscribe", "*"}, {"UNSUBSCRIBE"}, {"sunsubscribe", "a"},
		{"MONITOR"}, {"MULTI"}, {"WATCH", "k"},
		{"CLIENT", "REPLY", "OFF"}, {"client", "reply", "skip"}, {},
		// Commands that change the connection or the number of its replies.
		{"REPLCONF", "ACK", "0"}, {"REPLCONF", "GETACK", "*"}, {"SCRIPT", "DEBUG", "YES"},
		{"CLIENT", "TRACKING", "on"}, {"CLIENT", "ID"}, {"CLIENT", "KILL", "ID", "1"},
		{"READONLY"}, {"ASKING"}, {"BLPOP", "q", "0"}, {"XREAD", "BLOCK", "0", "STREAMS", "s", "$"},
		{"WAIT", "0", "0"}, {"SCRIPT", "KILL"}, {"SHUTDOWN"}, {"SYNC"},
		// Commands the model does not know are not shared either.
		{"NOSUCH"}, {"json.set", "k", "$", "1"},
	} {
		ran := false
		b.Send(context.Background(), resp.NewCommand(args...), func(v resp.Value, err error) {
			ran = true
			if err != nil || !v.IsError() {
				t.Errorf("%q: got %v, %v; want an error reply", args, v, err)
			}
		})
		if !ran {
			t.Errorf("%q: done not called before Send returned", args)
		}
	}
	// The connections still work, and still use db 0.
	if reply, err := do(t, b, context.Background(), "SET", "k", "v"); err != nil || reply != "+OK\r\n" {
		t.Fatalf("SET after refused commands: %q, %v", reply, err)
	}
	if got, err := s.Client().Get(context.Background(), "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k in db 0 = %q, %v; want v", got, err)
	}
}

func TestLargeValue(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr()})
	value := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	value[len(value)-1] = '!'
	ctx := session(7)
	for i := range 3 { // the buffers grown by the first round serve the next ones
		if reply, err := do(t, b, ctx, "SET", "big", string(value)); err != nil || reply != "+OK\r\n" {
			t.Fatalf("round %d: SET big: %q, %v", i, reply, err)
		}
		reply, err := do(t, b, ctx, "GET", "big")
		if err != nil {
			t.Fatalf("round %d: GET big: %v", i, err)
		}
		want := "$" + strconv.Itoa(len(value)) + "\r\n" + string(value) + "\r\n"
		if reply != want {
			t.Fatalf("round %d: GET big: got %d bytes, want %d", i, len(reply), len(want))
		}
	}
	if reply, err := do(t, b, ctx, "PING"); err != nil || reply != "+PONG\r\n" {
		t.Fatalf("PING after large values: %q, %v", reply, err)
	}
}

func TestPipelineOrder(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr()})
	const n = 10000
	ctx := session(3)
	var wg sync.WaitGroup
	wg.Add(n)
	var mu sync.Mutex
	var got []string
	for range n {
		b.Send(ctx, resp.NewCommand("INCR", "counter"), func(v resp.Value, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				got = append(got, err.Error())
				return
			}
			got = append(got, string(v.Raw))
		})
	}
	waitGroup(t, &wg, "10000 INCRs")
	for i, reply := range got {
		if want := fmt.Sprintf(":%d\r\n", i+1); reply != want {
			t.Fatalf("reply %d = %q, want %q", i, reply, want)
		}
	}
}

func TestManySessions(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr(), Conns: 4})
	const sessions, perSession = 50, 1000
	var wg sync.WaitGroup
	wg.Add(sessions * perSession)
	var bad atomic.Int64
	var firstBad atomic.Value
	for id := range sessions {
		go func() {
			ctx := session(uint64(id))
			key := "session:" + strconv.Itoa(id)
			var next atomic.Int64 // replies of one session come in order, one at a time
			for range perSession {
				b.Send(ctx, resp.NewCommand("INCR", key), func(v resp.Value, err error) {
					defer wg.Done()
					want := fmt.Sprintf(":%d\r\n", next.Add(1))
					if err != nil || string(v.Raw) != want {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, fmt.Sprintf("session %d: got %q, %v; want %q", id, v.Raw, err, want))
					}
				})
			}
		}()
	}
	waitGroup(t, &wg, "50 sessions of 1000 INCRs")
	if n := bad.Load(); n > 0 {
		t.Fatalf("%d wrong replies; first: %s", n, firstBad.Load())
	}
}

func TestServerKilledMidPipeline(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr()})
	const sessions, perSession = 8, 2000
	const killAfter = 2000 // replies
	var calls, replies atomic.Int64
	var wg sync.WaitGroup
	wg.Add(sessions * perSession)
	kill := make(chan struct{})
	var mu sync.Mutex
	answered := make([]int, sessions)     // replies per session
	lastAnswered := make([]int, sessions) // 1 + the index of the last command answered
	for id := range sessions {
		go func() {
			ctx := session(uint64(id))
			key := "k" + strconv.Itoa(id)
			for i := range perSession {
				b.Send(ctx, resp.NewCommand("INCR", key), func(v resp.Value, err error) {
					defer wg.Done()
					calls.Add(1)
					switch {
					case err == nil:
						// The answered commands are a prefix of the session's, so the
						// i-th one's INCR gives i+1.
						if want := fmt.Sprintf(":%d\r\n", i+1); string(v.Raw) != want {
							t.Errorf("session %d, command %d: reply %q, want %q", id, i, v.Raw, want)
						}
						mu.Lock()
						answered[id]++
						lastAnswered[id] = max(lastAnswered[id], i+1)
						mu.Unlock()
						if replies.Add(1) == killAfter {
							close(kill)
						}
					case errors.Is(err, backend.ErrConnLost) || errors.Is(err, backend.ErrUnavailable):
					default:
						t.Errorf("session %d, command %d: error %v", id, i, err)
					}
				})
			}
		}()
	}
	select {
	case <-kill:
	case <-time.After(wait):
		t.Fatalf("only %d replies within %v", replies.Load(), wait)
	}
	s.Kill()
	waitGroup(t, &wg, "callbacks after Kill")
	if got, want := calls.Load(), int64(sessions*perSession); got != want {
		t.Fatalf("%d callbacks, want %d", got, want)
	}
	for id := range sessions {
		if answered[id] != lastAnswered[id] {
			t.Errorf("session %d: %d commands answered, but the last one answered is number %d",
				id, answered[id], lastAnswered[id])
		}
	}
	t.Logf("%d of %d commands answered before the kill", replies.Load(), sessions*perSession)

	// While the server is down, commands fail at once.
	if _, err := do(t, b, context.Background(), "PING"); !errors.Is(err, backend.ErrUnavailable) && !errors.Is(err, backend.ErrConnLost) {
		t.Fatalf("PING while down: %v, want ErrUnavailable", err)
	}
	s.Restart()
	eventually(t, b, session(0))
	if reply, err := do(t, b, session(0), "INCR", "k0"); err != nil || reply != ":1\r\n" {
		t.Fatalf("INCR after restart: %q, %v", reply, err)
	}
	if st := b.Stats(); st.Reconnects < 1 || st.ConnsUp < 1 || st.Waiting != 0 {
		t.Errorf("stats after the restart: %+v, want a reconnect, a connection up, nothing waiting", st)
	}
}

func TestServerDownAtNew(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	s.Kill()
	b := newBackend(t, redis.Config{Addr: s.Addr(), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	called := false
	b.Send(context.Background(), resp.NewCommand("PING"), func(_ resp.Value, err error) {
		called = true
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("PING with the server down: %v, want ErrUnavailable", err)
		}
		if !strings.Contains(fmt.Sprint(err), s.Addr()) {
			t.Errorf("error %q does not name the address %s", err, s.Addr())
		}
	})
	if !called {
		t.Fatal("Send with the server down did not fail at once")
	}
	s.Restart()
	eventually(t, b, session(1))
}

// busyScript keeps Redis busy until SCRIPT KILL: it blocks the connection it is sent on,
// and every command behind it there, for as long as the test wants.
var busyScript = resp.NewCommand("EVAL", "while true do end", "0")

// startBusy starts a Redis whose busy scripts may be killed after 10ms.
func startBusy(t *testing.T) *redistest.Server {
	return redistest.Start(t, redistest.Args("--busy-reply-threshold", "10"))
}

// killScript ends the busy script, retrying while it has not started yet.
func killScript(t *testing.T, s *redistest.Server) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := s.Client().Do(context.Background(), "SCRIPT", "KILL").Err()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "NOTBUSY") || time.Now().After(deadline) {
			t.Fatalf("SCRIPT KILL: %v", err)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

func TestCommandTimeout(t *testing.T) {
	t.Parallel()
	s := startBusy(t)
	b := newBackend(t, redis.Config{Addr: s.Addr(), CommandTimeout: 100 * time.Millisecond, Conns: 1})
	start := time.Now()
	slowServer(t, b, session(1), func() { killScript(t, s) })
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("timed out after %v, before the 100ms timeout", d)
	}
}

// slowServer sends a script that runs until end stops it, and a PING behind it: both
// fail with ErrTimeout, and the connection goes on: the late replies are dropped, in
// order, so that the next command gets its own; it was not reconnected.
func slowServer(t *testing.T, b *redis.Backend, ctx context.Context, end func()) {
	t.Helper()
	errs := make(chan error, 2)
	b.Send(ctx, busyScript, func(_ resp.Value, err error) { errs <- err })
	b.Send(ctx, resp.NewCommand("PING"), func(_ resp.Value, err error) { errs <- err })
	for i := range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, backend.ErrTimeout) {
				t.Fatalf("command %d: %v, want %v", i, err, backend.ErrTimeout)
			}
		case <-time.After(wait):
			t.Fatalf("command %d: no timeout within %v", i, wait)
		}
	}
	end()
	if reply, err := do(t, b, ctx, "ECHO", "mine"); err != nil || reply != "$4\r\nmine\r\n" {
		t.Fatalf("ECHO after the timeout: %q, %v; want its own reply", reply, err)
	}
	if st := b.Stats(); st.Reconnects != 0 {
		t.Errorf("stats %+v: the connection to a slow server was made again", st)
	}
}

// TestDeadServer: a server that answers nothing, not even a health check on another
// connection, has its connection taken down after the timeout.
func TestDeadServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var accepted []net.Conn
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, nc) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range accepted {
			nc.Close()
		}
		mu.Unlock()
	})
	b := newBackend(t, redis.Config{Addr: ln.Addr().String(), CommandTimeout: 100 * time.Millisecond,
		DialTimeout: 200 * time.Millisecond, Conns: 1})
	errs := make(chan error, 1)
	b.Send(session(1), resp.NewCommand("PING"), func(_ resp.Value, err error) { errs <- err })
	if err := <-errs; !errors.Is(err, backend.ErrTimeout) {
		t.Fatalf("PING: %v, want %v", err, backend.ErrTimeout)
	}
	deadline := time.Now().Add(wait)
	for b.Stats().Reconnects == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the connection to a dead server was not taken down", b.Stats())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func TestAuthAndDB(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Args("--requirepass", "pw"))
	b := newBackend(t, redis.Config{Addr: s.Addr(), Password: "pw", DB: 3, Conns: 1})
	if reply, err := do(t, b, context.Background(), "SET", "k", "in db 3"); err != nil || reply != "+OK\r\n" {
		t.Fatalf("SET: %q, %v", reply, err)
	}
	db3 := goredis.NewClient(&goredis.Options{Addr: s.Addr(), Password: "pw", DB: 3, Protocol: 2})
	defer db3.Close()
	ctx := context.Background()
	if got, err := db3.Get(ctx, "k").Result(); err != nil || got != "in db 3" {
		t.Fatalf("GET k in db 3 = %q, %v", got, err)
	}
	if n, err := s.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k in db 0 = %d, %v; want 0", n, err)
	}

	// A reconnection authenticates and selects the db again.
	s.Restart()
	eventually(t, b, context.Background())
	if reply, err := do(t, b, context.Background(), "SET", "k2", "again"); err != nil || reply != "+OK\r\n" {
		t.Fatalf("SET after restart: %q, %v", reply, err)
	}
	if got, err := db3.Get(ctx, "k2").Result(); err != nil || got != "again" {
		t.Fatalf("GET k2 in db 3 after restart = %q, %v", got, err)
	}
}

func TestACLUser(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Args("--user", "alice", "on", ">secret", "~*", "&*", "+@all"))
	b := newBackend(t, redis.Config{Addr: s.Addr(), Username: "alice", Password: "secret"})
	// ACL WHOAMI is about the connection: not for a shared one; a dedicated one is
	// logged in the same way.
	ch := make(chan string, 1)
	dc := b.Dedicate(context.Background(), nil, func(resp.Value) {})
	dc.Send(resp.NewCommand("ACL", "WHOAMI"), 0, func(v resp.Value, err error) { ch <- fmt.Sprint(v, err) })
	if got := <-ch; got != `"$5\r\nalice\r\n" <nil>` {
		t.Fatalf("ACL WHOAMI: %s", got)
	}
	dc.Release()
	if reply, err := do(t, b, context.Background(), "SET", "k", "v"); err != nil || reply != "+OK\r\n" {
		t.Fatalf("SET as alice: %q, %v", reply, err)
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Args("--requirepass", "pw"))
	var logs syncBuffer
	b, err := redis.New(redis.Config{
		Addr:     s.Addr(),
		Password: "wrong",
		Logger:   hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, b, context.Background(), "PING"); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("PING with a wrong password: %v, want ErrUnavailable", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "WRONGPASS") || strings.Contains(out, "wrong") {
		t.Errorf("log should name the refusal and not the password:\n%s", out)
	}
}

func TestBusy(t *testing.T) {
	t.Parallel()
	s := startBusy(t)
	b := newBackend(t, redis.Config{Addr: s.Addr(), Conns: 1, MaxPending: 10})
	var wg sync.WaitGroup
	wg.Add(10)
	results := make([]string, 10) // each index written by one callback, read after wg
	b.Send(session(1), busyScript, func(v resp.Value, err error) {
		results[0] = fmt.Sprint(string(v.Raw), err)
		wg.Done()
	})
	for i := 1; i < 10; i++ {
		b.Send(session(1), resp.NewCommand("PING"), func(v resp.Value, err error) {
			results[i] = fmt.Sprint(string(v.Raw), err)
			wg.Done()
		})
	}
	// Ten commands wait behind the busy script: the eleventh is refused at once.
	var busy error
	called := false
	b.Send(session(1), resp.NewCommand("PING"), func(_ resp.Value, err error) {
		called, busy = true, err
	})
	if !called {
		t.Error("11th command: done not called at once")
	} else if !errors.Is(busy, backend.ErrBusy) {
		t.Errorf("11th command: %v, want ErrBusy", busy)
	}
	killScript(t, s)
	waitGroup(t, &wg, "commands behind the busy script")
	if !strings.Contains(results[0], "Script killed") {
		t.Errorf("busy script: %q, want it killed", results[0])
	}
	for i := 1; i < 10; i++ {
		if results[i] != "+PONG\r\n<nil>" {
			t.Errorf("PING %d: %q", i, results[i])
		}
	}
}

func TestCloseInFlight(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b, err := redis.New(redis.Config{Addr: s.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	var calls, closed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		b.Send(session(uint64(i%10)), resp.NewCommand("INCR", "k"), func(v resp.Value, err error) {
			defer wg.Done()
			calls.Add(1)
			switch {
			case errors.Is(err, backend.ErrClosed):
				closed.Add(1)
			case err != nil:
				t.Errorf("error %v, want a reply or ErrClosed", err)
			case v.Type != resp.TypeInteger:
				t.Errorf("reply %q, want an integer", v.Raw)
			}
		})
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitGroup(t, &wg, "callbacks after Close") // Close should have called them all already
	if got := calls.Load(); got != n {
		t.Fatalf("%d callbacks, want %d", got, n)
	}
	t.Logf("%d of %d commands failed with ErrClosed", closed.Load(), n)
	called := false
	b.Send(session(1), resp.NewCommand("PING"), func(_ resp.Value, err error) {
		called = true
		if !errors.Is(err, backend.ErrClosed) {
			t.Errorf("Send after Close: %v, want ErrClosed", err)
		}
	})
	if !called {
		t.Error("Send after Close did not fail at once")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestProtocolError checks that a reply that is not RESP takes the connection down with
// ErrConnLost, against a fake server.
func TestProtocolError(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	t.Cleanup(served.Wait)
	t.Cleanup(func() { _ = l.Close() })
	served.Add(1)
	go func() {
		defer served.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() {
				defer served.Done()
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := c.Write([]byte("?garbage\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	b := newBackend(t, redis.Config{Addr: l.Addr().String()})
	_, err = do(t, b, context.Background(), "PING")
	if !errors.Is(err, backend.ErrConnLost) || !strings.Contains(fmt.Sprint(err), "Protocol error") {
		t.Fatalf("PING answered with garbage: %v, want ErrConnLost with the protocol error", err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  redis.Config
		want string
	}{
		{"no addr", redis.Config{}, "Addr is required"},
		{"bad addr", redis.Config{Addr: "localhost"}, "missing port"},
		{"negative conns", redis.Config{Addr: "127.0.0.1:1", Conns: -1}, "Conns is negative"},
		{"negative db", redis.Config{Addr: "127.0.0.1:1", DB: -1}, "DB is negative"},
		{"negative pending", redis.Config{Addr: "127.0.0.1:1", MaxPending: -1}, "MaxPending is negative"},
		{"backoff order", redis.Config{Addr: "127.0.0.1:1", MinBackoff: time.Second, MaxBackoff: time.Millisecond}, "exceeds MaxBackoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := redis.New(tc.cfg)
			if err == nil {
				_ = b.Close()
				t.Fatalf("New succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	// used counts the server's connections whose last command was ECHO.
	used := func() int {
		list, err := s.Client().ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, "cmd=echo")
	}
	b := newBackend(t, redis.Config{Addr: s.Addr(), Conns: 3})
	for i := range 6 {
		if _, err := do(t, b, context.Background(), "ECHO", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := used(); n != 3 {
		t.Fatalf("commands without a session used %d connections, want 3", n)
	}
	// A session sticks to its connection.
	b.Close()
	s.Client().Do(context.Background(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	b = newBackend(t, redis.Config{Addr: s.Addr(), Conns: 3})
	for i := range 6 {
		if _, err := do(t, b, session(5), "ECHO", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := used(); n != 1 {
		t.Fatalf("one session used %d connections, want 1", n)
	}
}

// TestSteadyStateAllocs checks that a round trip allocates nothing in the backend once its
// buffers have grown. It is not parallel: allocations are counted process-wide.
func TestSteadyStateAllocs(t *testing.T) {
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr()})
	ctx := session(1)
	cmd := resp.NewCommand("PING")
	ch := make(chan error, 1)
	done := func(_ resp.Value, err error) { ch <- err }
	roundTrip := func() {
		b.Send(ctx, cmd, done)
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	for range 1000 {
		roundTrip()
	}
	if allocs := testing.AllocsPerRun(1000, roundTrip); allocs > 0 {
		t.Errorf("%v allocations per round trip, want 0", allocs)
	}
}

// TestUsers checks the backends of the server's users (AsUser): their connections log
// in as the user and are shared by those who ask for it; a dedicated connection that
// logged in as someone else is never lent again; and a wrong password fails commands.
func TestUsers(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Args(
		"--user", "default", "on", "nopass", "~*", "&*", "+@all",
		"--user", "bob", "on", ">bobpw", "~*", "+get", "+acl|whoami", "+auth"))
	b := newBackend(t, redis.Config{Addr: s.Addr(), MaxIdle: 4, WarmIdle: -1})
	ctx := context.Background()
	whoami := func(dc backend.Dedicated) string {
		ch := make(chan string, 1)
		dc.Send(resp.NewCommand("ACL", "WHOAMI"), 0, func(v resp.Value, err error) { ch <- fmt.Sprint(v, err) })
		return <-ch
	}

	bob, release := b.AsUser("bob", "bobpw")
	bob2, release2 := b.AsUser("bob", "bobpw")
	if bob != bob2 {
		t.Fatal("two backends for one user")
	}
	if reply, _ := do(t, bob, ctx, "SET", "k", "v"); !strings.HasPrefix(reply, "-NOPERM") {
		t.Errorf("SET as bob: %q", reply)
	}
	if reply, _ := do(t, bob, ctx, "GET", "k"); reply != "$-1\r\n" {
		t.Errorf("GET as bob: %q", reply)
	}
	if got := whoami(bob.(backend.Dedicator).Dedicate(ctx, nil, func(resp.Value) {})); got != `"$3\r\nbob\r\n" <nil>` {
		t.Errorf("a dedicated connection of bob's is %s", got)
	}
	release()
	release2()

	// A connection lent, logged in as bob and given back is closed, not lent again.
	dc := b.Dedicate(ctx, nil, func(resp.Value) {})
	ch := make(chan string, 1)
	dc.Send(resp.NewCommand("AUTH", "bob", "bobpw"), 0, func(v resp.Value, err error) { ch <- fmt.Sprint(v, err) })
	if got := <-ch; got != `"+OK\r\n" <nil>` {
		t.Fatalf("AUTH: %s", got)
	}
	dc.Release()
	for range 4 {
		dc := b.Dedicate(ctx, nil, func(resp.Value) {})
		if got := whoami(dc); got != `"$7\r\ndefault\r\n" <nil>` {
			t.Fatalf("a connection lent after one logged in as bob is %s", got)
		}
		dc.Release()
	}

	wrong, release := b.AsUser("bob", "wrong")
	defer release()
	if _, err := do(t, wrong, ctx, "GET", "k"); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("GET with a wrong password: %v, want ErrUnavailable", err)
	}
}
