package router_test

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"slices"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/middleware/rewrite"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

// The fan-out's own tests, split and merge command by command against real Redis
// Clusters and shard sets, are in internal/fanout. These check the option.

func TestWithFanoutRefusesNegativeMaxShards(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "MaxShards -1") {
			t.Errorf("WithFanout(MaxShards -1) panicked with %v, want a panic naming MaxShards", r)
		}
	}()
	router.WithFanout(router.FanoutConfig{MaxShards: -1})
}

// TestFanoutOneShardPassesEverything: in front of a backend that is not sharded every
// command goes on untouched, KEYS and SCAN included: a single node is one shard.
func TestFanoutOneShardPassesEverything(t *testing.T) {
	t.Parallel()
	var sent []string
	b := backend.Func(func(_ context.Context, cmd resp.Command, done func(resp.Value, error)) {
		sent = append(sent, cmd.String())
		done(resp.OK, nil)
	})
	h := router.New(b, router.WithFanout(router.FanoutConfig{MaxShards: 1}))
	cmds := [][]string{
		{"MGET", "a", "b", "c"}, {"KEYS", "*"}, {"SCAN", "0"}, {"DBSIZE"}, {"FLUSHALL"},
		{"MSETNX", "a", "1", "b", "2"}, {"RANDOMKEY"}, {"SCRIPT", "LOAD", "return 1"},
	}
	for _, args := range cmds {
		var rec proxytest.Recorder
		h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand(args...)))
		if got := rec.Replies(); len(got) != 1 || got[0].String() != resp.OK.String() {
			t.Errorf("%q: replies %v", args, got)
		}
	}
	if len(sent) != len(cmds) {
		t.Fatalf("backend got %q; want every command once", sent)
	}
	for i, args := range cmds {
		if want := resp.NewCommand(args...).String(); sent[i] != want {
			t.Errorf("sent %s, want %s untouched", sent[i], want)
		}
	}
}

// TestFanoutBehindMiddleware: with middleware in front of the router, which is last,
// the fan-out splits the keys as the middleware made them (a namespace), and each
// middleware sees the client's command once, not once per part.
func TestFanoutBehindMiddleware(t *testing.T) {
	t.Parallel()
	b, _ := startShards(t, 3)
	rw, err := rewrite.New(rewrite.Config{Prefix: "app:"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	count := proxy.MiddlewareFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		mu.Lock()
		seen = append(seen, strings.ToLower(string(req.Name())))
		mu.Unlock()
		next.ServeRESP(ctx, w, req)
	})
	srv := proxytest.NewServer(t, proxy.Chain(router.New(b, router.WithFanout(router.FanoutConfig{})), count, rw))
	p := newClient(t, srv.Addr(), nil)
	ctx := testCtx(t)

	// Keys on every server once namespaced: the namespace decides where a key lives.
	var keys []string
	servers := map[string]bool{}
	for i := 0; len(servers) < 3 || len(keys) < 3; i++ {
		k := fmt.Sprintf("k%d", i)
		if srv := b.ServerFor([]byte("app:" + k)); !servers[srv] {
			servers[srv] = true
			keys = append(keys, k)
		}
	}
	if err := p.MSet(ctx, keys[0], "0", keys[1], "1", keys[2], "2").Err(); err != nil {
		t.Fatalf("MSET over three servers: %v", err)
	}
	for i, k := range keys {
		direct := goredis.NewClient(&goredis.Options{Addr: b.ServerFor([]byte("app:" + k))})
		got, err := direct.Get(ctx, "app:"+k).Result()
		direct.Close()
		if err != nil || got != fmt.Sprint(i) {
			t.Errorf("app:%s on its server = %q, %v; want %d", k, got, err, i)
		}
	}
	if got, err := p.MGet(ctx, keys[2], "missing", keys[0]).Result(); err != nil || fmt.Sprint(got) != "[2 <nil> 0]" {
		t.Errorf("MGET = %v, %v; want [2 <nil> 0]", got, err)
	}
	if n, err := p.Del(ctx, keys...).Result(); err != nil || n != 3 {
		t.Errorf("DEL = %d, %v; want 3", n, err)
	}
	if n, err := p.Exists(ctx, keys...).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS after DEL = %d, %v; want 0", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"mset", "mget", "del", "exists"}
	if i := slices.Index(seen, "mset"); i < 0 || !slices.Equal(seen[i:], want) {
		t.Errorf("the middleware in front saw %q, want %q once each after the handshake", seen, want)
	}
}

// TestSessionsStayInside: no exported function of the package takes a client
// connection, so that nothing outside the router can reach what the router keeps of a
// client (its session: its lane, its dedicated connection, its state). Middleware ask
// the router nothing about a client; the fan-out, which must, is part of it.
func TestSessionsStayInside(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, pkg := range pkgs {
		for name, file := range pkg.Files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			for _, d := range file.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv != nil || !fn.Name.IsExported() {
					continue
				}
				checked++
				for _, p := range fn.Type.Params.List {
					if s := types.ExprString(p.Type); strings.Contains(s, "proxy.Conn") {
						t.Errorf("%s: func %s takes a %s: a client's session is reachable from outside the router", fset.Position(fn.Pos()), fn.Name, s)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no exported function found: the test reads the wrong directory")
	}
}

// TestFanoutWhileWatching: a client whose only state is a WATCH still has its multi-key
// commands split and its SORT ... STORE run over the shards, and a write so made to a
// WATCHed key fails its transaction, as in Redis.
func TestFanoutWhileWatching(t *testing.T) {
	t.Parallel()
	b, servers := startShards(t, 3)
	srv := proxytest.NewServer(t, router.New(b, router.WithFanout(router.FanoutConfig{})))
	keyOn := func(i int, prefix string) string {
		for n := 0; ; n++ {
			if k := fmt.Sprintf("%s%d", prefix, n); b.ServerFor([]byte(k)) == servers[i].Addr() {
				return k
			}
		}
	}
	watched, list, other := keyOn(0, "w"), keyOn(1, "l"), keyOn(2, "o")
	c := proxytest.Dial(t, srv.Addr())
	c.Do("SET", other, "x")
	for _, step := range []struct{ cmd, want string }{
		{"SET " + watched + " 1", "+OK"},
		{"WATCH " + watched, "+OK"},
		{"MGET " + watched + " " + other, "*2\r\n$1\r\n1\r\n$1\r\nx"},
		{"SORT " + list + " STORE " + watched, ":0"}, // an empty list: the destination is deleted
		{"MULTI", "+OK"},
		{"PING", "+QUEUED"},
		{"EXEC", "*-1"}, // the WATCHed key was touched
		{"EXISTS " + watched, ":0"},
	} {
		if got := reply(c.Do(strings.Fields(step.cmd)...)); got != step.want+"\r\n" {
			t.Errorf("%s: %q, want %q", step.cmd, got, step.want)
		}
	}
}
