package router_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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
)

// dataCase runs a few commands with the keys of prefix p and returns them; want holds
// what each command gives (see result).
type dataCase struct {
	name string
	run  func(ctx context.Context, c *redis.Client, p string) []redis.Cmder
	want []string
}

var dataCases = []dataCase{
	{
		name: "strings",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.Set(ctx, p+"s", "hello", 0),
				c.Get(ctx, p+"s"),
				c.Append(ctx, p+"s", " world"),
				c.GetRange(ctx, p+"s", 0, 4),
				c.GetRange(ctx, p+"s", -5, -1),
				c.StrLen(ctx, p+"s"),
				c.Incr(ctx, p+"n"),
				c.IncrBy(ctx, p+"n", 41),
				c.Decr(ctx, p+"n"),
				c.IncrByFloat(ctx, p+"f", 1.5),
				c.MSet(ctx, p+"a", "1", p+"b", "2"),
				c.MGet(ctx, p+"a", p+"b", p+"missing"),
				c.SetNX(ctx, p+"a", "x", 0),
				c.GetDel(ctx, p+"a"),
				c.Get(ctx, p+"a"),
				c.Incr(ctx, p+"s"),
			}
		},
		want: []string{
			"OK", "hello", "11", "hello", "world", "11",
			"1", "42", "41", "1.5",
			"OK", "[1 2 <nil>]", "false", "1", "err: redis: nil",
			"err: ERR value is not an integer or out of range",
		},
	},
	{
		name: "hashes",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.HSet(ctx, p+"h", "f1", "v1", "f2", "v2"),
				c.HGet(ctx, p+"h", "f1"),
				c.HGet(ctx, p+"h", "nope"),
				c.HGetAll(ctx, p+"h"),
				c.HIncrBy(ctx, p+"h", "f3", 5),
				c.HLen(ctx, p+"h"),
				c.HExists(ctx, p+"h", "f2"),
				c.HDel(ctx, p+"h", "f1"),
				c.HMGet(ctx, p+"h", "f1", "f2"),
				c.HKeys(ctx, p+"h"),
			}
		},
		want: []string{
			"2", "v1", "err: redis: nil", "map[f1:v1 f2:v2]", "5", "3", "true", "1",
			"[<nil> v2]", "[f2 f3]",
		},
	},
	{
		name: "lists",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.LPush(ctx, p+"l", "a", "b", "c"),
				c.RPush(ctx, p+"l", "z"),
				c.LRange(ctx, p+"l", 0, -1),
				c.LLen(ctx, p+"l"),
				c.LIndex(ctx, p+"l", 1),
				c.LPop(ctx, p+"l"),
				c.RPop(ctx, p+"l"),
				c.LRange(ctx, p+"l", 0, -1),
				c.LPopCount(ctx, p+"l", 5),
				c.LPop(ctx, p+"l"),
			}
		},
		want: []string{
			"3", "4", "[c b a z]", "4", "b", "c", "z", "[b a]", "[b a]", "err: redis: nil",
		},
	},
	{
		name: "sets",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.SAdd(ctx, p+"s", "a", "b", "c", "a"),
				c.SCard(ctx, p+"s"),
				c.SIsMember(ctx, p+"s", "b"),
				c.SIsMember(ctx, p+"s", "x"),
				// SMEMBERS order depends on the server's hash seed: compare as a map.
				c.SMembersMap(ctx, p+"s"),
				c.SRem(ctx, p+"s", "a"),
				c.SAdd(ctx, p+"t", "c", "d"),
				c.SInter(ctx, p+"s", p+"t"),
				c.SMIsMember(ctx, p+"s", "a", "b"),
			}
		},
		want: []string{
			"3", "3", "true", "false", "map[a:{} b:{} c:{}]", "1", "2", "[c]", "[false true]",
		},
	},
	{
		name: "sorted sets",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.ZAdd(ctx, p+"z", redis.Z{Score: 1, Member: "one"}, redis.Z{Score: 2, Member: "two"},
					redis.Z{Score: 3, Member: "three"}),
				c.ZRangeWithScores(ctx, p+"z", 0, -1),
				c.ZScore(ctx, p+"z", "two"),
				c.ZScore(ctx, p+"z", "nope"),
				c.ZIncrBy(ctx, p+"z", 10, "one"),
				c.ZRange(ctx, p+"z", 0, -1),
				c.ZRank(ctx, p+"z", "three"),
				c.ZRevRangeWithScores(ctx, p+"z", 0, 0),
				c.ZRem(ctx, p+"z", "two"),
				c.ZCard(ctx, p+"z"),
			}
		},
		want: []string{
			"3", "[{1 one} {2 two} {3 three}]", "2", "err: redis: nil", "11",
			"[two three one]", "1", "[{11 one}]", "1", "2",
		},
	},
	{
		name: "expiry",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.Set(ctx, p+"e", "v", 100*time.Second), // SET EX 100
				c.TTL(ctx, p+"e"),                       // rounded to the second
				c.PExpire(ctx, p+"e", 50*time.Second),   // PEXPIRE 50000
				c.TTL(ctx, p+"e"),
				c.Persist(ctx, p+"e"),
				c.TTL(ctx, p+"e"),
				c.Persist(ctx, p+"e"),
				c.TTL(ctx, p+"missing"),
				c.Get(ctx, p+"e"),
			}
		},
		// go-redis reports TTL's -1 (no expiry) and -2 (no key) as nanoseconds.
		want: []string{"OK", "1m40s", "true", "50s", "true", "-1ns", "false", "-2ns", "v"},
	},
	{
		name: "keys",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.Set(ctx, p+"a", "1", 0),
				c.Set(ctx, p+"b", "2", 0),
				c.RPush(ctx, p+"l", "x"),
				c.Exists(ctx, p+"a", p+"b", p+"missing"),
				c.Type(ctx, p+"a"),
				c.Type(ctx, p+"l"),
				c.Type(ctx, p+"missing"),
				c.Del(ctx, p+"a", p+"l", p+"missing"),
				c.Exists(ctx, p+"a"),
				c.Rename(ctx, p+"b", p+"c"),
				c.Get(ctx, p+"c"),
				c.Get(ctx, p+"b"),
			}
		},
		want: []string{
			"OK", "OK", "1", "2", "string", "list", "none", "2", "0", "OK", "2", "err: redis: nil",
		},
	},
	{
		name: "nil replies",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.Get(ctx, p+"missing"),
				c.MGet(ctx, p+"missing"),
				c.HGet(ctx, p+"missing", "f"),
				c.LPop(ctx, p+"missing"),
				c.LIndex(ctx, p+"missing", 0),
				c.SPop(ctx, p+"missing"),
				c.ZScore(ctx, p+"missing", "m"),
				c.LRange(ctx, p+"missing", 0, -1),
			}
		},
		want: []string{
			"err: redis: nil", "[<nil>]", "err: redis: nil", "err: redis: nil",
			"err: redis: nil", "err: redis: nil", "err: redis: nil", "[]",
		},
	},
	{
		name: "errors",
		run: func(ctx context.Context, c *redis.Client, p string) []redis.Cmder {
			return []redis.Cmder{
				c.Set(ctx, p+"s", "v", 0),
				c.LPush(ctx, p+"s", "x"),
				c.Do(ctx, "GET"),
				c.Get(ctx, p+"s"),
			}
		},
		want: []string{
			"OK",
			"err: WRONGTYPE Operation against a key holding the wrong kind of value",
			"err: ERR wrong number of arguments for 'get' command",
			"v",
		},
	},
}

// TestDataTypes runs commands of every data type through the proxy with go-redis and
// checks that they give what the same commands give on a redis-server of their own,
// reached directly, and what Redis documents.
func TestDataTypes(t *testing.T) {
	t.Parallel()
	st := newStack(t, nil)
	proxied := newClient(t, st.proxy.Addr(), nil)
	truth := newClient(t, redistest.Start(t).Addr(), nil)
	for _, tc := range dataCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			p := strings.ReplaceAll(tc.name, " ", "-") + ":"
			got := tc.run(ctx, proxied, p)
			want := tc.run(ctx, truth, p)
			if len(got) != len(tc.want) {
				t.Fatalf("case runs %d commands but wants %d results", len(got), len(tc.want))
			}
			for i := range got {
				g, w := result(got[i]), result(want[i])
				if g != w {
					t.Errorf("%v: through the proxy %q, directly %q", got[i].Args(), g, w)
				}
				if g != tc.want[i] {
					t.Errorf("%v: through the proxy %q, want %q", got[i].Args(), g, tc.want[i])
				}
			}
		})
	}
	t.Run("redis.Nil", func(t *testing.T) {
		t.Parallel()
		if _, err := proxied.Get(testCtx(t), "nil:missing").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET of a missing key: %v, want redis.Nil", err)
		}
	})
}

// TestInlineCommands checks that commands typed as text (telnet, redis-cli's inline
// form) are forwarded like arrays.
func TestInlineCommands(t *testing.T) {
	t.Parallel()
	st := newStack(t, nil)
	c := proxytest.Dial(t, st.proxy.Addr())
	c.WriteRaw([]byte("SET inline \"two words\"\r\nGET inline\r\nPING\r\n"))
	for i, want := range []string{"+OK\r\n", "$9\r\ntwo words\r\n", "+PONG\r\n"} {
		if got := reply(c.Read()); got != want {
			t.Fatalf("reply %d = %q, want %q", i, got, want)
		}
	}
}

// bigValue returns n random bytes.
func bigValue(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 42))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestBigValues(t *testing.T) {
	t.Parallel()
	const size = 10 << 20
	st := newStack(t, nil)
	direct := st.redis.Client()

	t.Run("go-redis", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		c := newClient(t, st.proxy.Addr(), nil)
		val := bigValue(size)
		if err := c.Set(ctx, "big:goredis", val, 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		got, err := c.Get(ctx, "big:goredis").Bytes()
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		if !bytes.Equal(got, val) {
			t.Fatalf("GET through the proxy: %d bytes, not the %d bytes SET", len(got), len(val))
		}
		stored, err := direct.Get(ctx, "big:goredis").Bytes()
		if err != nil || !bytes.Equal(stored, val) {
			t.Fatalf("GET directly: %d bytes, %v; not the value SET through the proxy", len(stored), err)
		}
		// The connection goes on after it.
		if got := c.Ping(ctx).Val(); got != "PONG" {
			t.Fatalf("PING after the big value: %q", got)
		}
	})

	t.Run("raw chunks", func(t *testing.T) {
		t.Parallel()
		val := bigValue(size + 1)
		cmd := resp.NewCommand("SET", "big:raw", string(val)).AppendTo(nil)
		cmd = resp.NewCommand("PING").AppendTo(cmd) // pipelined right behind it
		c := proxytest.Dial(t, st.proxy.Addr())
		r := rand.New(rand.NewPCG(7, 7))
		for b := cmd; len(b) > 0; {
			n := min(len(b), 1+r.IntN(16<<10))
			c.WriteRaw(b[:n])
			b = b[n:]
		}
		if got := reply(c.Read()); got != "+OK\r\n" {
			t.Fatalf("SET reply = %q", got)
		}
		if got := reply(c.Read()); got != "+PONG\r\n" {
			t.Fatalf("PING reply = %q", got)
		}
		v := c.Do("GET", "big:raw")
		if v.Type != resp.TypeBulkString || !bytes.Equal(v.Str, val) {
			t.Fatalf("GET: %s, %d bytes; not the %d bytes SET", v.Type, len(v.Str), len(val))
		}
		stored, err := direct.Get(testCtx(t), "big:raw").Bytes()
		if err != nil || !bytes.Equal(stored, val) {
			t.Fatalf("GET directly: %d bytes, %v; not the value SET through the proxy", len(stored), err)
		}
	})
}

// TestPipeline10k sends 10,000 mixed commands in one go-redis pipeline and checks
// every reply, in order.
func TestPipeline10k(t *testing.T) {
	t.Parallel()
	const n = 10_000
	st := newStack(t, nil)
	ctx := testCtx(t)
	c := newClient(t, st.proxy.Addr(), nil)
	pipe := c.Pipeline()
	cmds := make([]redis.Cmder, n)
	for i := range cmds {
		switch i % 3 {
		case 0:
			cmds[i] = pipe.Incr(ctx, "pipe:counter")
		case 1:
			cmds[i] = pipe.Set(ctx, "pipe:k"+strconv.Itoa(i), "v"+strconv.Itoa(i), 0)
		case 2:
			cmds[i] = pipe.Get(ctx, "pipe:k"+strconv.Itoa(i-1))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("Exec: %v", err)
	}
	for i, cmd := range cmds {
		var want string
		switch i % 3 {
		case 0:
			want = strconv.Itoa(i/3 + 1)
		case 1:
			want = "OK"
		case 2:
			want = "v" + strconv.Itoa(i-1)
		}
		if got := result(cmd); got != want {
			t.Fatalf("command %d %v = %q, want %q", i, cmd.Args(), got, want)
		}
	}
	if got := st.redis.Client().Get(ctx, "pipe:counter").Val(); got != strconv.Itoa((n+2)/3) {
		t.Fatalf("counter in redis = %q, want %d", got, (n+2)/3)
	}
}

// TestManyClients runs many clients at once, each incrementing its own key: every
// reply comes in order and every final value is right.
func TestManyClients(t *testing.T) {
	t.Parallel()
	const clients, incrs = 50, 500
	st := newStack(t, nil)
	direct := st.redis.Client()

	check := func(t *testing.T, prefix string) {
		t.Helper()
		ctx := testCtx(t)
		for i := range clients {
			key := prefix + strconv.Itoa(i)
			if got, err := direct.Get(ctx, key).Int(); err != nil || got != incrs {
				t.Errorf("%s = %d, %v; want %d", key, got, err, incrs)
			}
		}
	}

	t.Run("go-redis", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		var wg sync.WaitGroup
		for i := range clients {
			c := newClient(t, st.proxy.Addr(), func(o *redis.Options) { o.PoolSize = 1 })
			key := "many:goredis:" + strconv.Itoa(i)
			wg.Go(func() {
				for want := int64(1); want <= incrs; want++ {
					got, err := c.Incr(ctx, key).Result()
					if err != nil || got != want {
						t.Errorf("%s: INCR = %d, %v; want %d", key, got, err, want)
						return
					}
				}
			})
		}
		wg.Wait()
		check(t, "many:goredis:")
	})

	t.Run("raw pipelines", func(t *testing.T) {
		t.Parallel()
		var wg sync.WaitGroup
		for i := range clients {
			c := proxytest.Dial(t, st.proxy.Addr())
			key := "many:raw:" + strconv.Itoa(i)
			var b []byte
			for range incrs {
				b = resp.NewCommand("INCR", key).AppendTo(b)
			}
			wg.Go(func() {
				_ = c.Conn().SetWriteDeadline(time.Now().Add(wait))
				if _, err := c.Conn().Write(b); err != nil {
					t.Errorf("%s: write: %v", key, err)
					return
				}
				for want := int64(1); want <= incrs; want++ {
					v, err := c.ReadErr()
					if err != nil || v.Type != resp.TypeInteger || v.Int != want {
						t.Errorf("%s: reply %d = %s, %v; want :%d", key, want, reply(v), err, want)
						return
					}
				}
			})
		}
		wg.Wait()
		check(t, "many:raw:")
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	st := newStack(t, nil)
	// A client that stays connected all along: the proxy keeps serving it.
	bystander := proxytest.Dial(t, st.proxy.Addr())
	if got := reply(bystander.Do("SET", "bad:bystander", "1")); got != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}

	t.Run("malformed", func(t *testing.T) {
		tests := []struct{ name, in, want string }{
			{"bulk length not a number", "*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length"},
			{"negative bulk length", "*1\r\n$-2\r\n", "-ERR Protocol error: invalid bulk length"},
			{"huge multibulk length", "*9223372036854775807\r\n", "-ERR Protocol error: invalid multibulk length"},
			{"not a bulk", "*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'"},
			{"unbalanced quotes", "SET k \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				c := proxytest.Dial(t, st.proxy.Addr())
				// A good command first, then the bad input, then a command that must not
				// run: the input cannot be trusted past a protocol error.
				c.WriteRaw([]byte("*2\r\n$4\r\nINCR\r\n$7\r\nbad:ran\r\n" + tt.in + "*2\r\n$4\r\nINCR\r\n$7\r\nbad:ran\r\n"))
				if got := reply(c.Read()); got[0] != ':' {
					t.Fatalf("reply to INCR = %q, want an integer", got)
				}
				if got := reply(c.Read()); !strings.HasPrefix(got, tt.want) {
					t.Fatalf("reply = %q, want prefix %q", got, tt.want)
				}
				expectClosed(t, c)
			})
		}
	})
	// Each malformed input ran one INCR, and the INCR behind it never ran.
	if got, err := st.redis.Client().Get(testCtx(t), "bad:ran").Int(); err != nil || got != 5 {
		t.Errorf("bad:ran = %d, %v; want 5", got, err)
	}

	t.Run("unknown command", func(t *testing.T) {
		t.Parallel()
		c := proxytest.Dial(t, st.proxy.Addr())
		direct := proxytest.Dial(t, st.redis.Addr())
		for _, cmd := range [][]string{{"NOSUCHCMD"}, {"nosuchcmd", "a", "b"}, {"GET"}, {"SET", "k"}} {
			got, want := reply(c.Do(cmd...)), reply(direct.Do(cmd...))
			if got != want || !strings.HasPrefix(got, "-ERR ") {
				t.Errorf("%q: through the proxy %q, directly %q", cmd, got, want)
			}
		}
		if got := reply(c.Do("PING")); got != "+PONG\r\n" {
			t.Fatalf("PING after = %q", got)
		}
	})

	t.Run("refused by the server", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		c := proxytest.Dial(t, st.proxy.Addr())
		direct := proxytest.Dial(t, st.redis.Addr())
		for _, cmd := range [][]string{
			{"AUTH", "pw"}, {"AUTH", "nosuchuser", "pw"}, {"PSYNC", "?"}, {"CLIENT", "REPLY", "NOPE"},
		} {
			want := reply(direct.Do(cmd...))
			if got := reply(c.Do(cmd...)); got != want || want[0] != '-' {
				t.Errorf("%q = %q, want Redis's %q", cmd, got, want)
			}
			// The connection keeps working, on db 0, with replies on.
			if got := reply(c.Do("SET", "bad:after", cmd[0])); got != "+OK\r\n" {
				t.Fatalf("SET after %q = %q", cmd, got)
			}
			if got, err := st.redis.Client().Get(ctx, "bad:after").Result(); err != nil || got != cmd[0] {
				t.Fatalf("after %q, db 0 holds %q, %v", cmd, got, err)
			}
		}
	})

	if got := reply(bystander.Do("INCR", "bad:bystander")); got != ":2\r\n" {
		t.Fatalf("bystander INCR = %q, want :2", got)
	}
}

// TestClientDisconnectsMidPipeline has clients write thousands of commands and close
// at once, again and again: the proxy forgets them, the backend and redis-server are
// unharmed, and a new client works.
func TestClientDisconnectsMidPipeline(t *testing.T) {
	t.Parallel()
	const rounds, n = 20, 5000
	st := newStack(t, nil)
	var b []byte
	for range n {
		b = resp.NewCommand("INCR", "gone:counter").AppendTo(b)
	}
	for i := range 2 * rounds {
		c := proxytest.Dial(t, st.proxy.Addr())
		c.WriteRaw(b)
		if i >= rounds {
			// Wait until replies flow, then close with replies unread: the proxy's
			// next write of replies fails (the kernel answers a close with unread data
			// with a reset).
			if v, err := c.ReadErr(); err != nil || v.Type != resp.TypeInteger {
				t.Fatalf("first reply = %s, %v", reply(v), err)
			}
		}
		if err := c.Conn().Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	eventually(t, "the proxy closes the abandoned connections", func() (bool, string) {
		st := st.proxy.Stats()
		return st.Conns == 0, fmt.Sprintf("%+v", st)
	})

	c := proxytest.Dial(t, st.proxy.Addr())
	if got := reply(c.Do("INCR", "gone:after")); got != ":1\r\n" {
		t.Fatalf("new client INCR = %q", got)
	}
	ctx := testCtx(t)
	gc := newClient(t, st.proxy.Addr(), nil)
	if got, err := gc.Incr(ctx, "gone:after").Result(); err != nil || got != 2 {
		t.Fatalf("go-redis INCR = %d, %v; want 2", got, err)
	}
	// No command ran twice: at most every INCR written ran once.
	direct := st.redis.Client()
	if got, err := direct.Get(ctx, "gone:counter").Int(); err != nil && !errors.Is(err, redis.Nil) || got > 2*rounds*n {
		t.Fatalf("gone:counter = %d, %v; want at most %d", got, err, 2*rounds*n)
	}
	if got, err := direct.Ping(ctx).Result(); err != nil || got != "PONG" {
		t.Fatalf("redis-server PING = %q, %v", got, err)
	}

	// Nothing is in flight any more, so a graceful shutdown has nothing to wait for.
	// (The proxy must not count the abandoned commands as in flight for ever: when a
	// reply write fails, gnet closes the connection inside Writev, and that close
	// discounts the commands being flushed as well.)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.proxy.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with no command in flight: %v", err)
	}
}

// TestBackendKilledMidPipeline kills redis-server while a client's pipelined INCRs
// stream through the proxy. Every command gets exactly one reply, in order: the INCRs
// that ran before the kill count 1, 2, 3..., the rest are error replies. Once the server
// is back, the same connection, the same proxy and new clients work again.
func TestBackendKilledMidPipeline(t *testing.T) {
	t.Parallel()
	const n = 50_000
	const killAfter = 1000
	// One server connection, so that once one client's PING goes through, every
	// client's command does; short backoffs, so that the proxy reconnects soon.
	st := newStack(t, func(c *redisbackend.Config) {
		c.Conns = 1
		c.MinBackoff = 10 * time.Millisecond
		c.MaxBackoff = 100 * time.Millisecond
	})
	c := proxytest.Dial(t, st.proxy.Addr())
	var b []byte
	for range n {
		b = resp.NewCommand("INCR", "kill:counter").AppendTo(b)
	}
	werr := make(chan error, 1)
	go func() {
		// The proxy reads at most MaxInflight commands ahead: write while the test reads.
		_ = c.Conn().SetWriteDeadline(time.Now().Add(wait))
		_, err := c.Conn().Write(b)
		werr <- err
	}()

	var ints, errs int
	var firstErr string
	for i := range n {
		if i == killAfter {
			st.redis.Kill()
		}
		v, err := c.ReadErr() // within proxytest.Timeout: no hang
		if err != nil {
			t.Fatalf("reply %d: %v (%d integers and %d errors before)", i, err, ints, errs)
		}
		switch {
		case v.Type == resp.TypeInteger && errs == 0:
			if ints++; v.Int != int64(ints) {
				t.Fatalf("reply %d = %d, want %d", i, v.Int, ints)
			}
		case v.IsError():
			if errs++; errs == 1 {
				firstErr = string(v.Str)
			}
			if !strings.HasPrefix(string(v.Str), "ERR ") || !strings.Contains(string(v.Str), "backend") {
				t.Fatalf("reply %d = %q, want a backend error", i, v.Str)
			}
		default:
			t.Fatalf("reply %d = %s after %d integers and %d errors: want integers, then errors",
				i, reply(v), ints, errs)
		}
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	t.Logf("%d INCRs answered before the kill, %d errors; the first: %s", ints, errs, firstErr)
	if ints < killAfter || errs == 0 {
		t.Fatalf("%d integers and %d errors: the kill did not land mid-pipeline", ints, errs)
	}

	// The connection still works while the server is down: errors, not silence.
	if v := c.Do("PING"); !v.IsError() {
		t.Fatalf("PING with redis-server down = %s, want an error", reply(v))
	}

	st.redis.Restart()
	eventually(t, "PING through the proxy after restart", func() (bool, string) {
		got := reply(c.Do("PING"))
		return got == "+PONG\r\n", got
	})
	// The data went with the killed server: the counter starts again.
	if got := reply(c.Do("INCR", "kill:counter")); got != ":1\r\n" {
		t.Fatalf("INCR after restart = %q, want :1", got)
	}
	ctx := testCtx(t)
	fresh := newClient(t, st.proxy.Addr(), nil)
	if err := fresh.Set(ctx, "kill:fresh", "yes", 0).Err(); err != nil {
		t.Fatalf("new client SET: %v", err)
	}
	if got, err := fresh.Get(ctx, "kill:fresh").Result(); err != nil || got != "yes" {
		t.Fatalf("new client GET = %q, %v", got, err)
	}
	if got, err := fresh.Incr(ctx, "kill:counter").Result(); err != nil || got != 2 {
		t.Fatalf("new client INCR = %d, %v; want 2", got, err)
	}
}

// helloRecorder remembers the HELLO commands that reach the router.
type helloRecorder struct {
	mu    sync.Mutex
	hello []string
}

func (m *helloRecorder) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if req.Is("hello") {
		m.mu.Lock()
		args := make([]string, len(req.Args()))
		for i, a := range req.Args() {
			args[i] = strings.ToUpper(string(a))
		}
		m.hello = append(m.hello, strings.Join(args, " "))
		m.mu.Unlock()
	}
	next.ServeRESP(ctx, w, req)
}

func (m *helloRecorder) seen() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.hello...)
}

func TestHello(t *testing.T) {
	t.Parallel()
	rec := &helloRecorder{}
	st := newStack(t, nil, rec)

	t.Run("HELLO 3", func(t *testing.T) {
		t.Parallel()
		c := proxytest.Dial(t, st.proxy.Addr())
		v := c.Do("HELLO", "3")
		if v.Type != resp.TypeMap || !strings.Contains(reply(v), "$5\r\nproto\r\n:3\r\n") {
			t.Fatalf("HELLO 3 = %s, want a map with proto 3", reply(v))
		}
		if v := c.Do("HELLO", "4"); !v.IsError() || !strings.HasPrefix(string(v.Str), "NOPROTO ") {
			t.Fatalf("HELLO 4 = %s, want -NOPROTO", reply(v))
		}
		if got := reply(c.Do("PING")); got != "+PONG\r\n" {
			t.Fatalf("PING after = %q", got)
		}
	})

	for _, args := range [][]string{{"HELLO", "2"}, {"HELLO"}, {"hello", "2"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			c := proxytest.Dial(t, st.proxy.Addr())
			v := c.Do(args...)
			if v.Type != resp.TypeArray || len(v.Elems)%2 != 0 {
				t.Fatalf("%q = %s, want an array of fields and values", args, reply(v))
			}
			fields := map[string]resp.Value{}
			for i := 0; i < len(v.Elems); i += 2 {
				fields[string(v.Elems[i].Str)] = v.Elems[i+1]
			}
			for _, f := range []string{"server", "version", "proto", "id", "mode", "role", "modules"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("%q: no field %q in %s", args, f, reply(v))
				}
			}
			if p := fields["proto"]; p.Type != resp.TypeInteger || p.Int != 2 {
				t.Errorf("%q: proto = %s, want :2", args, reply(p))
			}
			if s := fields["server"]; string(s.Str) != "redis" {
				t.Errorf("%q: server = %s, want redis", args, reply(s))
			}
			if got := reply(c.Do("SET", "hello:after", "x")); got != "+OK\r\n" {
				t.Fatalf("SET after = %q", got)
			}
		})
	}

	t.Run("HELLO 2 with options", func(t *testing.T) {
		t.Parallel()
		// Without an auth middleware, HELLO AUTH logs in to the server's own users: the
		// default user has no password here, so any password does, as with Redis.
		c := proxytest.Dial(t, st.proxy.Addr())
		if v := c.Do("HELLO", "2", "AUTH", "default", "pw", "SETNAME", "h2"); v.IsError() || len(v.Elems) != 14 {
			t.Fatalf("HELLO 2 AUTH default = %s", reply(v))
		}
		if got := reply(c.Do("CLIENT", "GETNAME")); got != "$2\r\nh2\r\n" {
			t.Errorf("CLIENT GETNAME after HELLO SETNAME = %q", got)
		}
		if got := reply(c.Do("HELLO", "2", "AUTH", "nosuchuser", "pw")); got != "-WRONGPASS invalid username-password pair or user is disabled.\r\n" {
			t.Errorf("HELLO AUTH of an unknown user = %q", got)
		}
		if got := reply(c.Do("HELLO", "2", "SETNAME", "a b")); !strings.HasPrefix(got, "-ERR Client names cannot contain spaces") {
			t.Errorf("HELLO SETNAME with a space = %q", got)
		}
	})

	t.Run("go-redis", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		for _, proto := range []int{2, 3} {
			// Protocol 3 is go-redis's default: it sends HELLO 3 and speaks RESP3.
			c := newClient(t, st.proxy.Addr(), func(o *redis.Options) { o.Protocol = proto })
			key := "hello:goredis" + strconv.Itoa(proto)
			if err := c.Set(ctx, key, "v", 0).Err(); err != nil {
				t.Fatalf("Protocol %d: SET: %v", proto, err)
			}
			if got, err := c.Get(ctx, key).Result(); err != nil || got != "v" {
				t.Fatalf("Protocol %d: GET = %q, %v", proto, got, err)
			}
			want := "HELLO " + strconv.Itoa(proto)
			if !slices.Contains(rec.seen(), want) {
				t.Errorf("Protocol %d: the router saw HELLOs %q, none %q", proto, rec.seen(), want)
			}
			m, err := c.Do(ctx, "HELLO", "2").Result()
			if err != nil {
				t.Fatalf("Protocol %d: HELLO 2: %v", proto, err)
			}
			if arr, ok := m.([]any); !ok || len(arr) != 14 || arr[0] != "server" {
				t.Fatalf("Protocol %d: HELLO 2 = %#v, want the 7 fields as an array", proto, m)
			}
		}
	})
}

func TestQuit(t *testing.T) {
	t.Parallel()
	st := newStack(t, nil)
	c := proxytest.Dial(t, st.proxy.Addr())
	// QUIT answers +OK after the replies before it; what was pipelined after it is dropped.
	c.Send([]string{"INCR", "quit:n"}, []string{"QUIT"}, []string{"INCR", "quit:n"})
	if got := reply(c.Read()); got != ":1\r\n" {
		t.Fatalf("INCR = %q", got)
	}
	if got := reply(c.Read()); got != "+OK\r\n" {
		t.Fatalf("QUIT = %q, want +OK", got)
	}
	expectClosed(t, c)
	if got, err := st.redis.Client().Get(testCtx(t), "quit:n").Result(); err != nil || got != "1" {
		t.Fatalf("quit:n = %q, %v; the command after QUIT must not run", got, err)
	}
	// go-redis: Close sends nothing, a new client works.
	gc := newClient(t, st.proxy.Addr(), nil)
	if got, err := gc.Incr(testCtx(t), "quit:n").Result(); err != nil || got != 2 {
		t.Fatalf("INCR from a new client = %d, %v", got, err)
	}
}
