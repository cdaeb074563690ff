package rewrite_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/middleware/rewrite"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  rewrite.Config
	}{
		{"empty rename", rewrite.Config{Rename: map[string]string{"": "GET"}}},
		{"rename with a blank", rewrite.Config{Rename: map[string]string{"A B": "GET"}}},
		{"target with a blank", rewrite.Config{Rename: map[string]string{"X": "GET X"}}},
		{"names that differ in case", rewrite.Config{Rename: map[string]string{"x": "GET", "X": "SET"}}},
		{"empty deny", rewrite.Config{Deny: []string{""}}},
		{"empty allow", rewrite.Config{Allow: []string{""}}},
		{"prefix and func", rewrite.Config{Prefix: "a:", PrefixFunc: func(*proxy.Conn) string { return "" }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := rewrite.New(tc.cfg); err == nil {
				t.Errorf("New(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
}

func TestRenameDenyHide(t *testing.T) {
	t.Parallel()
	rw := newRewrite(t, rewrite.Config{
		Rename: map[string]string{"FLUSHALL": "", "SECRET-FLUSH": "FLUSHALL", "get2": "GET", "sneak": "CONFIG"},
		Deny:   []string{"CONFIG", "debug"},
	})
	for _, tc := range []struct {
		name      string
		args      []string
		reply     string   // the reply's encoding
		forwarded []string // what the terminal got; nil: nothing
	}{
		{"pass through", []string{"GET", "a"}, "+OK\r\n", []string{"GET", "a"}},
		{"renamed", []string{"secret-flush", "ASYNC"}, "+OK\r\n", []string{"FLUSHALL", "ASYNC"}},
		{"renamed any case", []string{"GET2", "k"}, "+OK\r\n", []string{"GET", "k"}},
		{"hidden", []string{"FLUSHALL"}, "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n", nil},
		{"hidden lower case with args", []string{"flushall", "a", "b"}, "-ERR unknown command 'flushall', with args beginning with: 'a' 'b' \r\n", nil},
		{"denied", []string{"config", "get", "x"}, "-ERR command 'config' is denied by the proxy\r\n", nil},
		{"denied upper case", []string{"DEBUG", "SLEEP", "0"}, "-ERR command 'debug' is denied by the proxy\r\n", nil},
		{"renamed to a denied command", []string{"sneak", "get", "x"}, "-ERR command 'sneak' is denied by the proxy\r\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := resp.NewCommand(tc.args...)
			orig := req.Clone()
			term := &capture{}
			var rec proxytest.Recorder
			proxy.Chain(term, rw).ServeRESP(context.Background(), &rec, proxy.NewRequest(req))
			if got := string(rec.Replies()[0].AppendTo(nil)); got != tc.reply {
				t.Errorf("reply %q, want %q", got, tc.reply)
			}
			var fwd []string
			for _, a := range term.got.Args {
				fwd = append(fwd, string(a))
			}
			if !slices.Equal(fwd, tc.forwarded) {
				t.Errorf("forwarded %q, want %q", fwd, tc.forwarded)
			}
			if req.String() != orig.String() {
				t.Errorf("the request's arguments were modified: %s, was %s", req, orig)
			}
		})
	}
}

// TestHiddenLikeRedis checks that a hidden command is answered word for word as Redis
// answers a command it does not know.
func TestHiddenLikeRedis(t *testing.T) {
	t.Parallel()
	c := redistest.Start(t).Client()
	long := strings.Repeat("x", 200)
	rw := newRewrite(t, rewrite.Config{Rename: map[string]string{"NOSUCHCMD": ""}})
	for _, args := range [][]string{{"NOSUCHCMD"}, {"nosuchcmd", "a", "b c"}, {"NoSuchCmd", long, long}} {
		want := c.Do(testCtx(t), toAny(args)...).Err()
		got, _ := serve(rw, args, resp.Value{})
		if want == nil || string(got.Str) != want.Error() {
			t.Errorf("%q: proxy %q, redis %v", args, got.Str, want)
		}
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// TestNamespaceEveryCommand namespaces an example of every Redis 7 command with keys:
// the key arguments, and only they, get the prefix.
func TestNamespaceEveryCommand(t *testing.T) {
	t.Parallel()
	const p = "ns:"
	rw := newRewrite(t, rewrite.Config{Prefix: p})
	n := 0
	for _, inv := range examples(t) {
		cmd, _ := command.Lookup([]byte(inv[0]))
		sub := cmd.Resolve(argsOf(inv))
		reply, got := serve(rw, inv, resp.Value{})
		if sub.Scope == command.ScopeAll || cmd.Scope == command.ScopeAll || sub.Flags.Has(command.Admin) {
			if !reply.IsError() || !strings.Contains(string(reply.Str), "not allowed in a key namespace") {
				t.Errorf("%q: reply %v, want it refused", inv, reply)
			}
			continue
		}
		n++
		keys := cmd.Keys(argsOf(inv), nil)
		want := slices.Clone(inv)
		for _, k := range keys {
			want[k] = p + inv[k]
		}
		for _, i := range sub.PatternArgs(argsOf(inv), nil) {
			want[i] = p + inv[i]
			if sub.Patterns == command.PatternGlob {
				want[i] = strings.ReplaceAll(p, "*", "\\*") + inv[i]
			}
		}
		if sub.Name == "scan" && len(sub.PatternArgs(argsOf(inv), nil)) == 0 {
			want = append(want, "MATCH", p+"*")
		}
		if fwd := strs(got.Args); !slices.Equal(fwd, want) {
			t.Errorf("%s: %q became %q, want %q", sub.Name, inv, fwd, want)
		}
		if got.Raw != nil {
			t.Errorf("%q: the rewritten command keeps a Raw encoding", inv)
		}
	}
	if n < 300 {
		t.Errorf("only %d invocations namespaced", n)
	}
}

func argsOf(s []string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

func strs(b [][]byte) []string {
	var out []string
	for _, a := range b {
		out = append(out, string(a))
	}
	return out
}

func TestNamespaceRewrites(t *testing.T) {
	t.Parallel()
	rw := newRewrite(t, rewrite.Config{Prefix: "t[1]:", Allow: []string{"dbsize", "script|flush", "eval"}})
	for _, tc := range []struct {
		name string
		args []string
		want string // the forwarded command, or the error reply
	}{
		{"GET", []string{"GET", "a"}, `"GET" "t[1]:a"`},
		{"MSET", []string{"MSET", "a", "1", "b", "2"}, `"MSET" "t[1]:a" "1" "t[1]:b" "2"`},
		{"EVAL", []string{"EVAL", "return 1", "2", "a", "b", "x"}, `"EVAL" "return 1" "2" "t[1]:a" "t[1]:b" "x"`},
		{"XREAD", []string{"XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"}, `"XREAD" "COUNT" "1" "STREAMS" "t[1]:s1" "t[1]:s2" "0" "0"`},
		{"OBJECT ENCODING", []string{"OBJECT", "ENCODING", "a"}, `"OBJECT" "ENCODING" "t[1]:a"`},
		{"SORT patterns", []string{"SORT", "l", "BY", "w_*", "GET", "#", "GET", "o_*->f", "STORE", "d"}, `"SORT" "t[1]:l" "BY" "t[1]:w_*" "GET" "#" "GET" "t[1]:o_*->f" "STORE" "t[1]:d"`},
		{"KEYS", []string{"KEYS", "user:*"}, `"KEYS" "t\\[1\\]:user:*"`},
		{"SCAN with MATCH", []string{"SCAN", "0", "MATCH", "a*", "COUNT", "10"}, `"SCAN" "0" "MATCH" "t\\[1\\]:a*" "COUNT" "10"`},
		{"SCAN without MATCH", []string{"SCAN", "0", "TYPE", "string"}, `"SCAN" "0" "TYPE" "string" "MATCH" "t\\[1\\]:*"`},
		{"no keys", []string{"PING"}, `"PING"`},
		{"PUBLISH channel", []string{"PUBLISH", "ch", "m"}, `"PUBLISH" "ch" "m"`},
		{"allowed", []string{"DBSIZE"}, `"DBSIZE"`},
		{"allowed subcommand", []string{"SCRIPT", "FLUSH"}, `"SCRIPT" "FLUSH"`},
		{"FLUSHALL", []string{"FLUSHALL"}, "-ERR command 'flushall' is not allowed in a key namespace"},
		{"RANDOMKEY", []string{"randomkey"}, "-ERR command 'randomkey' is not allowed in a key namespace"},
		{"SWAPDB", []string{"SWAPDB", "0", "1"}, "-ERR command 'swapdb' is not allowed in a key namespace"},
		{"admin", []string{"CONFIG", "GET", "x"}, "-ERR command 'config get' is not allowed in a key namespace"},
		{"SCRIPT KILL", []string{"SCRIPT", "KILL"}, "-ERR command 'script kill' is not allowed in a key namespace"},
		{"SCAN with many options", append([]string{"SCAN", "0"}, strings.Split(strings.Repeat("COUNT 1 ", 31)+"MATCH *", " ")...),
			`"SCAN" "0" ` + strings.Repeat(`"COUNT" "1" `, 31) + `"MATCH" "t\\[1\\]:*"`},
		{"scripts reach any key", []string{"FCALL", "f", "1", "a"}, "-ERR command 'fcall' is not allowed in a key namespace"},
		{"SORT STORE twice", []string{"SORT", "l", "STORE", "by", "STORE", "victim"}, `"SORT" "t[1]:l" "STORE" "by" "STORE" "t[1]:victim"`},
		{"GEORADIUS STORE twice", []string{"GEORADIUS", "g", "0", "0", "1", "m", "STORE", "x", "STORE", "victim"},
			`"GEORADIUS" "t[1]:g" "0" "0" "1" "m" "STORE" "x" "STORE" "t[1]:victim"`},
		{"MONITOR", []string{"MONITOR"}, "-ERR command 'monitor' is not allowed in a key namespace"},
		{"unknown command", []string{"JSON.GET", "a"}, "-ERR command 'json.get' is not allowed in a key namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, got := serve(rw, tc.args, resp.Value{})
			s := got.String()
			if reply.IsError() {
				s = "-" + string(reply.Str)
			}
			if s != tc.want {
				t.Errorf("%q: got %s, want %s", tc.args, s, tc.want)
			}
		})
	}
}

func TestPrefixFunc(t *testing.T) {
	t.Parallel()
	rw := newRewrite(t, rewrite.Config{PrefixFunc: func(c *proxy.Conn) string { return "" }})
	if reply, _ := serve(rw, []string{"GET", "a"}, resp.Value{}); string(reply.Str) != "NOPERM no key namespace for this connection" {
		t.Errorf("GET without a namespace: %v", reply)
	}
	if reply, got := serve(rw, []string{"PING"}, resp.Value{}); reply.IsError() || got.String() != `"PING"` {
		t.Errorf("PING without a namespace: %v, %s", reply, got)
	}
}

func TestStripReplies(t *testing.T) {
	t.Parallel()
	rw := newRewrite(t, rewrite.Config{Prefix: "p:"})
	b := resp.BulkString
	for _, tc := range []struct {
		name  string
		args  []string
		reply resp.Value
		want  resp.Value
	}{
		{"KEYS", []string{"KEYS", "*"}, resp.Array(b("p:a"), b("p:b")), resp.Array(b("a"), b("b"))},
		{"KEYS raw", []string{"KEYS", "*"}, resp.Raw(resp.Array(b("p:a")).AppendTo(nil)), resp.Array(b("a"))},
		{"SCAN", []string{"SCAN", "0"}, resp.Array(b("17"), resp.Array(b("p:x"))), resp.Array(b("17"), resp.Array(b("x")))},
		{"BLPOP", []string{"BLPOP", "l", "0"}, resp.Array(b("p:l"), b("v")), resp.Array(b("l"), b("v"))},
		{"BLPOP timeout", []string{"BLPOP", "l", "1"}, resp.NullArray, resp.NullArray},
		{"BZPOPMIN", []string{"BZPOPMIN", "z", "0"}, resp.Array(b("p:z"), b("m"), b("1")), resp.Array(b("z"), b("m"), b("1"))},
		{"LMPOP", []string{"LMPOP", "1", "l", "LEFT"}, resp.Array(b("p:l"), resp.Array(b("v"))), resp.Array(b("l"), resp.Array(b("v")))},
		{"ZMPOP", []string{"ZMPOP", "1", "z", "MIN"}, resp.Array(b("p:z"), resp.Array(resp.Array(b("m"), b("1")))), resp.Array(b("z"), resp.Array(resp.Array(b("m"), b("1"))))},
		{"XREAD", []string{"XREAD", "STREAMS", "s", "0"}, resp.Array(resp.Array(b("p:s"), resp.Array())), resp.Array(resp.Array(b("s"), resp.Array()))},
		{"error", []string{"KEYS", "*"}, resp.Error("ERR", "x"), resp.Error("ERR", "x")},
		{"GET is not stripped", []string{"GET", "a"}, b("p:v"), b("p:v")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := serve(rw, tc.args, tc.reply)
			if got.String() != tc.want.String() {
				t.Errorf("reply %s, want %s", got, tc.want)
			}
		})
	}
}

// TestNamespacesAreIsolated runs two namespaced clients through a proxy in front of a
// real redis-server: neither reads, lists or deletes the other's keys.
func TestNamespacesAreIsolated(t *testing.T) {
	t.Parallel()
	rw := newRewrite(t, rewrite.Config{PrefixFunc: func(c *proxy.Conn) string {
		if c.User() == "" {
			return ""
		}
		return c.User() + ":"
	}})
	st := newStack(t, rw)
	ctx := testCtx(t)
	a, b := client(t, st.proxy.Addr(), "a"), client(t, st.proxy.Addr(), "b")
	for i := 0; i < 30; i++ {
		if err := a.Set(ctx, fmt.Sprintf("k%02d", i), "A", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	must(t, b.MSet(ctx, "k00", "B", "only-b", "B").Err())
	must(t, a.RPush(ctx, "list", "x").Err())

	if v := a.Get(ctx, "k00").Val(); v != "A" {
		t.Errorf("a: GET k00 = %q, want A", v)
	}
	if v := b.Get(ctx, "k00").Val(); v != "B" {
		t.Errorf("b: GET k00 = %q, want B", v)
	}
	if err := b.Get(ctx, "k01").Err(); err != redis.Nil {
		t.Errorf("b: GET of a's k01: %v, want nil", err)
	}
	if n := b.Del(ctx, "k01", "k02", "list").Val(); n != 0 {
		t.Errorf("b deleted %d of a's keys", n)
	}
	if n := b.Exists(ctx, "k03").Val(); n != 0 {
		t.Errorf("b sees a's k03")
	}

	wantA := []string{"list"}
	for i := 0; i < 30; i++ {
		wantA = append(wantA, fmt.Sprintf("k%02d", i))
	}
	sort.Strings(wantA)
	keys := a.Keys(ctx, "*").Val()
	sort.Strings(keys)
	if !slices.Equal(keys, wantA) {
		t.Errorf("a: KEYS * = %q, want %q", keys, wantA)
	}
	if keys := b.Keys(ctx, "*").Val(); !sameSet(keys, []string{"k00", "only-b"}) {
		t.Errorf("b: KEYS * = %q", keys)
	}
	var scanned []string
	for cursor := uint64(0); ; {
		page, next, err := a.Scan(ctx, cursor, "", 5).Result()
		must(t, err)
		scanned = append(scanned, page...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	sort.Strings(scanned)
	if !slices.Equal(slices.Compact(scanned), wantA) {
		t.Errorf("a: full SCAN = %q, want %q", scanned, wantA)
	}
	if page, _, err := b.Scan(ctx, 0, "only*", 1000).Result(); err != nil || !slices.Equal(page, []string{"only-b"}) {
		t.Errorf("b: SCAN MATCH only* = %q, %v", page, err)
	}

	// Keys in replies lose the prefix.
	if key, vals, err := a.LMPop(ctx, "left", 1, "empty", "list").Result(); err != nil || key != "list" || !slices.Equal(vals, []string{"x"}) {
		t.Errorf("a: LMPOP = %q %q, %v", key, vals, err)
	}
	must(t, a.XAdd(ctx, &redis.XAddArgs{Stream: "s", ID: "1-1", Values: []string{"f", "v"}}).Err())
	if xs, err := a.XRead(ctx, &redis.XReadArgs{Streams: []string{"s", "0"}}).Result(); err != nil || len(xs) != 1 || xs[0].Stream != "s" {
		t.Errorf("a: XREAD = %v, %v", xs, err)
	}
	if err := a.RandomKey(ctx).Err(); err == nil || !strings.Contains(err.Error(), "not allowed in a key namespace") {
		t.Errorf("a: RANDOMKEY: %v, want refused", err)
	}
	if err := a.FlushAll(ctx).Err(); err == nil {
		t.Errorf("a: FLUSHALL was not refused")
	}

	// The server holds every key under its namespace.
	all := st.redis.Client().Keys(ctx, "*").Val()
	for _, k := range all {
		if !strings.HasPrefix(k, "a:") && !strings.HasPrefix(k, "b:") {
			t.Errorf("the server holds %q, outside every namespace", k)
		}
	}
	if v := st.redis.Client().Get(ctx, "b:only-b").Val(); v != "B" {
		t.Errorf("the server has b:only-b = %q", v)
	}
	// A connection without a user has no namespace.
	anon := client(t, st.proxy.Addr(), "")
	if err := anon.Get(ctx, "k00").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("anonymous GET: %v, want NOPERM", err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	proxytest.Conformance(t, proxytest.Suite{Middleware: newRewrite(t, rewrite.Config{
		Prefix: "c:", Rename: map[string]string{"FLUSHALL": ""}, Deny: []string{"DEBUG"},
	})})
}

// BenchmarkPassThrough: renames and denies configured, a command that matches neither.
func BenchmarkPassThrough(b *testing.B) {
	rw := newRewrite(b, rewrite.Config{Rename: map[string]string{"FLUSHALL": "", "SECRET-FLUSH": "FLUSHALL"}, Deny: []string{"DEBUG"}})
	bench(b, rw, "GET", "key")
}

// BenchmarkRename: a renamed command, through a real connection's arena.
func BenchmarkRename(b *testing.B) {
	rw := newRewrite(b, rewrite.Config{Rename: map[string]string{"GET2": "GET"}})
	bench(b, rw, "GET2", "key")
}

// BenchmarkNamespace: a key that gets a prefix.
func BenchmarkNamespace(b *testing.B) {
	rw := newRewrite(b, rewrite.Config{Prefix: "tenant1:"})
	bench(b, rw, "MSET", "a", "1", "b", "2")
}

// bench serves args through rw on a real proxy connection, from inside the server: the
// benchmark loop runs in the terminal handler of one command, so that rw sees a real
// *proxy.Conn (and its arena).
func bench(b *testing.B, rw *rewrite.Rewrite, args ...string) {
	done := make(chan struct{})
	inner := proxy.Chain(proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {}), rw)
	h := proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if req.Is("bench") {
			cmd := resp.NewCommand(args...)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req.SetCommand(cmd)
				inner.ServeRESP(ctx, discard{}, req)
			}
			b.StopTimer()
			close(done)
		}
		w.WriteReply(resp.OK)
	})
	srv := proxytest.NewServer(b, h)
	c := proxytest.Dial(b, srv.Addr())
	c.Do("BENCH")
	<-done
}

type discard struct{}

func (discard) WriteReply(resp.Value) bool { return true }
