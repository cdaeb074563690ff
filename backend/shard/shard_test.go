package shard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/backend/shard"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}

// wait bounds every wait of these tests: a test that hangs fails instead.
const wait = 10 * time.Second

// cluster is three redis-server processes and a shard backend over them.
type cluster struct {
	servers []*redistest.Server
	cfg     shard.Config
	b       *shard.Backend
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{}
	for i := range 3 {
		s := redistest.Start(t)
		c.servers = append(c.servers, s)
		c.cfg.Servers = append(c.cfg.Servers, shard.Server{Name: fmt.Sprintf("redis%d", i+1), Addr: s.Addr()})
	}
	c.b = newBackend(t, c.cfg)
	return c
}

func newBackend(t testing.TB, cfg shard.Config) *shard.Backend {
	t.Helper()
	b, err := shard.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// client returns the go-redis client of the server at addr.
func (c *cluster) client(t testing.TB, addr string) *goredis.Client {
	t.Helper()
	for _, s := range c.servers {
		if s.Addr() == addr {
			return s.Client()
		}
	}
	t.Fatalf("no server at %s", addr)
	return nil
}

// do sends one command and waits for its reply, encoded as RESP, or its error.
func do(t testing.TB, b backend.Backend, args ...string) (string, error) {
	t.Helper()
	type result struct {
		reply string
		err   error
	}
	ch := make(chan result, 1)
	b.Send(context.Background(), resp.NewCommand(args...), func(v resp.Value, err error) {
		ch <- result{string(v.AppendTo(nil)), err}
	})
	select {
	case r := <-ch:
		return r.reply, r.err
	case <-time.After(wait):
		t.Fatalf("%v: no reply in %v", args, wait)
		return "", nil
	}
}

// key returns the i-th test key, spread over the hash space.
func key(i int) string { return fmt.Sprintf("user:%08x", uint32(i)*2654435761) }

func TestKeysSpreadOverServers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	const n = 3000
	ctx := backend.WithSession(context.Background(), 7)
	errs := make(chan error, n)
	for i := range n {
		c.b.Send(ctx, resp.NewCommand("SET", key(i), "v"), func(v resp.Value, err error) {
			if err == nil && string(v.AppendTo(nil)) != "+OK\r\n" {
				err = fmt.Errorf("reply %q", v.AppendTo(nil))
			}
			errs <- err
		})
	}
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("SET: %v", err)
			}
		case <-time.After(wait):
			t.Fatal("SETs not answered")
		}
	}
	bg := context.Background()
	for _, s := range c.servers {
		size, err := s.Client().DBSize(bg).Result()
		if err != nil {
			t.Fatal(err)
		}
		share := float64(size) / n
		t.Logf("%s: %d keys (%.1f%%)", s.Addr(), size, 100*share)
		if share < 0.20 || share > 0.47 {
			t.Errorf("%s holds %.1f%% of the keys, want 20%%–47%%", s.Addr(), 100*share)
		}
	}
	for i := range n {
		k := key(i)
		owner := c.b.ServerFor([]byte(k))
		for _, s := range c.servers {
			got, err := s.Client().Exists(bg, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(0); s.Addr() == owner {
				want = 1
				if got != want {
					t.Fatalf("%s not on %s, its server", k, owner)
				}
			} else if got != want {
				t.Fatalf("%s on %s, but ServerFor says %s", k, s.Addr(), owner)
			}
		}
	}
}

func TestRemovingAServerMovesOnlyItsKeys(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	two := c.cfg
	two.Servers = append([]shard.Server{c.cfg.Servers[0]}, c.cfg.Servers[2]) // remove redis2
	b2 := newBackend(t, two)
	removed := c.cfg.Servers[1].Addr
	const n = 10000
	kept, moved := 0, 0
	for i := range n {
		k := []byte(key(i))
		before, after := c.b.ServerFor(k), b2.ServerFor(k)
		switch {
		case before != removed:
			kept++
			if after != before {
				t.Fatalf("%s moved from %s to %s, though its server stays", k, before, after)
			}
		case after == removed:
			t.Fatalf("%s still on the removed server", k)
		default:
			moved++
		}
	}
	t.Logf("%d keys kept their server, %d moved off %s", kept, moved, removed)
	if moved == 0 || kept == 0 {
		t.Fatalf("kept %d, moved %d", kept, moved)
	}
	// The moved keys are redistributed over both remaining servers, and b2 uses them.
	var on [2]int
	for i := range n {
		k := []byte(key(i))
		if c.b.ServerFor(k) == removed {
			on[b2.Shard(k)]++
		}
	}
	if on[0] == 0 || on[1] == 0 {
		t.Errorf("the removed server's keys went %v to the remaining servers, want both", on)
	}
	if r, err := do(t, b2, "SET", "moved", "1"); err != nil || r != "+OK\r\n" {
		t.Fatalf("SET through the 2-server backend: %q %v", r, err)
	}
	if n, _ := c.client(t, b2.ServerFor([]byte("moved"))).Exists(context.Background(), "moved").Result(); n != 1 {
		t.Error("key not on its server")
	}
}

func TestHashTags(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a, b := []byte("{user1}.a"), []byte("{user1}.b")
	if c.b.Shard(a) != c.b.Shard(b) {
		t.Fatalf("%s and %s on different servers", a, b)
	}
	if r, err := do(t, c.b, "MSET", "{user1}.a", "1", "{user1}.b", "2"); err != nil || r != "+OK\r\n" {
		t.Fatalf("MSET of tagged keys: %q %v", r, err)
	}
	got, err := c.client(t, c.b.ServerFor(a)).MGet(context.Background(), "{user1}.a", "{user1}.b").Result()
	if err != nil || fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("on the server: %v %v", got, err)
	}
	if r, _ := do(t, c.b, "MGET", "{user1}.a", "{user1}.b"); r != "*2\r\n$1\r\n1\r\n$1\r\n2\r\n" {
		t.Errorf("MGET through the backend: %q", r)
	}

	// Two keys on different servers.
	x := key(0)
	y := ""
	for i := 1; y == ""; i++ {
		if c.b.Shard([]byte(key(i))) != c.b.Shard([]byte(x)) {
			y = key(i)
		}
	}
	for _, args := range [][]string{
		{"MSET", x, "1", y, "2"},
		{"DEL", x, y},
		{"RENAME", x, y},
		{"EVAL", "return 1", "2", x, y},
	} {
		r, err := do(t, c.b, args...)
		if err != nil || !strings.HasPrefix(r, "-CROSSSLOT ") || !strings.Contains(r, "same shard") {
			t.Errorf("%v: %q %v, want -CROSSSLOT", args, r, err)
		}
	}
	for _, s := range c.servers {
		if n, _ := s.Client().Exists(context.Background(), x, y).Result(); n != 0 {
			t.Errorf("a refused MSET wrote %d keys on %s", n, s.Addr())
		}
	}
}

func TestKeylessAndUnknownCommands(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, tc := range []struct {
		name string
		args []string
		want string // prefix of the reply
	}{
		{"ping", []string{"PING"}, "+PONG"},
		{"echo", []string{"ECHO", "hi"}, "$2\r\nhi"},
		{"eval without keys", []string{"EVAL", "return 1", "0"}, ":1"},
		{"unknown", []string{"NOSUCHCMD", "k"}, "-ERR redchain shard: unknown command"},
		{"refused by backend/redis", []string{"SELECT", "1"}, "-ERR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := do(t, c.b, tc.args...)
			if err != nil || !strings.HasPrefix(r, tc.want) {
				t.Errorf("%v: %q %v, want %q...", tc.args, r, err, tc.want)
			}
		})
	}
	// Keyless commands go to the first server: DBSIZE shows in its command stats.
	if r, _ := do(t, c.b, "SET", "probe", "1"); r != "+OK\r\n" {
		t.Fatal(r)
	}
	first := c.servers[0].Client()
	before, _ := first.Info(context.Background(), "commandstats").Result()
	if _, err := do(t, c.b, "DBSIZE"); err != nil {
		t.Fatal(err)
	}
	after, _ := first.Info(context.Background(), "commandstats").Result()
	if strings.Contains(before, "cmdstat_dbsize") || !strings.Contains(after, "cmdstat_dbsize") {
		t.Error("DBSIZE did not reach the first server")
	}
}

func TestStatsAndClose(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	b, err := shard.New(shard.Config{Servers: c.cfg.Servers, Redis: redis.Config{Conns: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Conns != 9 || st.ConnsUp != 9 || st.Waiting != 0 {
		t.Errorf("Stats = %+v, want 9 connections up", st)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := range 3 { // every server's backend is closed
		var k string
		for j := 0; ; j++ {
			if k = key(j); b.Shard([]byte(k)) == i {
				break
			}
		}
		if _, err := do(t, b, "GET", k); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("GET on server %d after Close: %v, want ErrClosed", i, err)
		}
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  shard.Config
		want string
	}{
		{"no servers", shard.Config{}, "Servers is empty"},
		{"no addr", shard.Config{Servers: []shard.Server{{Name: "a"}}}, "Addr is required"},
		{"bad addr", shard.Config{Servers: []shard.Server{{Addr: "nohost"}}}, "nohost"},
		{"negative weight", shard.Config{Servers: []shard.Server{{Addr: "h:1", Weight: -1}}}, "Weight"},
		{"same name", shard.Config{Servers: []shard.Server{{Name: "a", Addr: "h:1"}, {Name: "a", Addr: "h:2"}}}, `name "a" used twice`},
		{"same addr", shard.Config{Servers: []shard.Server{{Name: "a", Addr: "h:1"}, {Name: "b", Addr: "h:1"}}}, `address "h:1" used twice`},
		{"name is another's addr", shard.Config{Servers: []shard.Server{{Addr: "h:1"}, {Name: "h:1", Addr: "h:2"}}}, "used twice"},
		{"bad tag", shard.Config{HashTag: "{", Servers: []shard.Server{{Addr: "h:1"}}}, "HashTag"},
		{"bad redis config", shard.Config{Redis: redis.Config{Conns: -1}, Servers: []shard.Server{{Addr: "h:1"}}}, "Conns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := shard.New(tc.cfg)
			if err == nil {
				_ = b.Close()
				t.Fatalf("New succeeded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "shard: ") {
				t.Errorf("New: %v, want %q", err, tc.want)
			}
		})
	}
}

func BenchmarkShard(b *testing.B) {
	var cfg shard.Config
	for i := range 3 {
		cfg.Servers = append(cfg.Servers, shard.Server{Addr: fmt.Sprintf("127.0.0.1:%d", 7001+i)})
	}
	// No server listens: Shard needs none, and Close ends the reconnection attempts.
	cfg.Redis = redis.Config{Conns: 1, DialTimeout: 50 * time.Millisecond}
	sb := newBackend(b, cfg)
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte(key(i))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = sb.Shard(keys[i&1023])
	}
}

// sendAll sends one command per key (built by mk) and waits for every reply, failing the
// test on a transport error; it returns the replies, encoded, in key order.
func sendAll(t *testing.T, b backend.Backend, keys []string, mk func(k string) resp.Command) []string {
	t.Helper()
	type res struct {
		i     int
		reply string
		err   error
	}
	ch := make(chan res, len(keys))
	ctx := backend.WithSession(context.Background(), 1)
	for i, k := range keys {
		b.Send(ctx, mk(k), func(v resp.Value, err error) { ch <- res{i, string(v.AppendTo(nil)), err} })
	}
	out := make([]string, len(keys))
	for range keys {
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("%s: %v", keys[r.i], r.err)
			}
			out[r.i] = r.reply
		case <-time.After(wait):
			t.Fatal("replies missing")
		}
	}
	return out
}

// TestRemovedServerKeysStayReadable writes keys through three servers, then reads them
// through a backend without the second: every key of the other two is still found where
// it was written, and only the removed server's keys are missing.
func TestRemovedServerKeysStayReadable(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = key(i)
	}
	for _, r := range sendAll(t, c.b, keys, func(k string) resp.Command { return resp.NewCommand("SET", k, "v:"+k) }) {
		if r != "+OK\r\n" {
			t.Fatalf("SET: %q", r)
		}
	}
	two := c.cfg
	two.Servers = []shard.Server{c.cfg.Servers[0], c.cfg.Servers[2]}
	b2 := newBackend(t, two)
	removed := c.cfg.Servers[1].Addr
	got := sendAll(t, b2, keys, func(k string) resp.Command { return resp.NewCommand("GET", k) })
	found, lost := 0, 0
	for i, k := range keys {
		onRemoved := c.b.ServerFor([]byte(k)) == removed
		switch want := fmt.Sprintf("$%d\r\nv:%s\r\n", len(k)+2, k); {
		case !onRemoved && got[i] != want:
			t.Fatalf("%s, not on the removed server: GET gave %q after the removal", k, got[i])
		case onRemoved && got[i] != "$-1\r\n":
			t.Fatalf("%s was on the removed server, yet GET gave %q", k, got[i])
		case onRemoved:
			lost++
		default:
			found++
		}
	}
	t.Logf("%d keys still found, %d were on %s", found, lost, removed)
	if lost == 0 || found == 0 {
		t.Fatalf("found %d, lost %d", found, lost)
	}
}

func TestSharded(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var sb backend.Sharded = c.b
	if sb.Shards() != 3 {
		t.Fatalf("Shards = %d, want 3", sb.Shards())
	}
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = key(i)
		g, s := sb.Locate([]byte(keys[i]))
		if want := c.b.Shard([]byte(keys[i])); g != want || s != want {
			t.Fatalf("Locate(%s) = %d, %d; want the server %d twice", keys[i], g, s, want)
		}
	}
	sendAll(t, c.b, keys, func(k string) resp.Command { return resp.NewCommand("SET", k, "1") })

	// SendShard reaches server i: its DBSIZE and KEYS are that server's.
	total := int64(0)
	for i, s := range c.servers {
		ch := make(chan string, 1)
		sb.SendShard(context.Background(), i, resp.NewCommand("DBSIZE"), func(v resp.Value, err error) {
			ch <- fmt.Sprint(string(v.AppendTo(nil)), err)
		})
		want, err := s.Client().DBSize(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := <-ch; got != fmt.Sprintf(":%d\r\n<nil>", want) {
			t.Errorf("DBSIZE of shard %d = %q, the server has %d keys", i, got, want)
		}
		total += want
		r, err := do(t, backend.Func(func(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) {
			sb.SendShard(ctx, i, cmd, done)
		}), "KEYS", "*")
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := resp.ParseValue([]byte(r), resp.Limits{})
		if err != nil || int64(len(v.Elems)) != want {
			t.Fatalf("KEYS of shard %d: %d keys, %v; want %d", i, len(v.Elems), err, want)
		}
		for _, k := range v.Elems {
			if c.b.Shard(k.Str) != i {
				t.Errorf("KEYS of shard %d gave %s, a key of shard %d", i, k.Str, c.b.Shard(k.Str))
			}
		}
	}
	if total != int64(len(keys)) {
		t.Errorf("the shards hold %d keys, want %d", total, len(keys))
	}

	for _, i := range []int{-1, 3} {
		var got error
		sb.SendShard(context.Background(), i, resp.NewCommand("PING"), func(_ resp.Value, err error) { got = err })
		if !errors.Is(got, backend.ErrUnavailable) || !strings.HasPrefix(got.Error(), "shard: ") {
			t.Errorf("SendShard(%d): %v, want ErrUnavailable at once", i, got)
		}
	}
}

// TestSortPatterns: SORT BY and GET patterns run when their hash tag places every key
// they form on the sorted key's server, and are refused otherwise: they would read
// another server's keys, or none, silently.
func TestSortPatterns(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, cmd := range [][]string{
		{"rpush", "{u}:list", "1", "2", "3"},
		{"set", "{u}:w_1", "30"}, {"set", "{u}:w_2", "10"}, {"set", "{u}:w_3", "20"},
		{"set", "{u}:v_1", "a"}, {"set", "{u}:v_2", "b"}, {"set", "{u}:v_3", "c"},
	} {
		if _, err := do(t, c.b, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sort", "{u}:list", "by", "{u}:w_*", "get", "{u}:v_*", "get", "#"}, "*6\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n1\r\n"},
		{[]string{"sort", "{u}:list", "by", "nosort"}, "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"},
		{[]string{"sort_ro", "{u}:list", "by", "w_*"}, "-ERR redchain shard: SORT BY"},
		{[]string{"sort", "{u}:list", "get", "{*}:v"}, "-ERR redchain shard: SORT BY"},
		{[]string{"sort", "{u}:list", "get", "v_*"}, "-ERR redchain shard: SORT BY"},
	} {
		got, err := do(t, c.b, tc.args...)
		if err != nil || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%v = %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
}
