package fanout_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/backend/shard"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// End-to-end tests: real redis-servers behind backend/shard, backend/cluster or
// backend/redis, a real proxy of router.New(b, router.WithFanout(cfg)), and a go-redis
// client speaking RESP2. The answers are compared with those of one plain redis-server
// given the same commands.

// proxyClient serves router.New(b, router.WithFanout(cfg)) and returns a client of it.
func proxyClient(t *testing.T, b backend.Backend, cfg router.FanoutConfig) *goredis.Client {
	t.Helper()
	return client(t, serveProxy(t, b, cfg))
}

// serveProxy serves router.New(b, router.WithFanout(cfg)) and returns its address.
func serveProxy(t *testing.T, b backend.Backend, cfg router.FanoutConfig) string {
	t.Helper()
	srv := proxytest.NewServer(t, router.New(b, router.WithFanout(cfg)))
	t.Cleanup(func() {
		if st := srv.Stats(); st.DoubleReplies != 0 || st.LateReplies != 0 {
			t.Errorf("proxy stats %+v: a command was answered twice or late", st)
		}
	})
	return srv.Addr()
}

func client(t *testing.T, addr string) *goredis.Client {
	return clientProto(t, addr, 2)
}

func clientProto(t *testing.T, addr string, proto int) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{
		Addr: addr, Protocol: proto, DisableIndentity: true, MaxRetries: -1,
		ReadTimeout: wait, WriteTimeout: wait,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// shardSet starts three redis-servers and returns a backend/shard over them.
func shardSet(t *testing.T) *shard.Backend {
	t.Helper()
	var cfg shard.Config
	for i := range 3 {
		cfg.Servers = append(cfg.Servers, shard.Server{Name: fmt.Sprintf("redis%d", i), Addr: redistest.Start(t).Addr()})
	}
	b, err := shard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// keysOnEveryShard returns n keys in n different groups of b, spread over its shards.
func keysOnEveryShard(t *testing.T, b backend.Sharded, n int) []string {
	t.Helper()
	keys := keysIn(n, b.Shards(), b.Locate)
	shards := map[int]bool{}
	for _, k := range keys {
		_, s := b.Locate([]byte(k))
		shards[s] = true
	}
	if len(shards) != b.Shards() {
		t.Fatalf("keys on %d shards of %d", len(shards), b.Shards())
	}
	return keys
}

// sameAsOneRedis runs the same commands through the proxy and on one plain Redis and
// compares what they give.
func sameAsOneRedis(t *testing.T, p, ref *goredis.Client, keys []string) {
	ctx := testCtx(t)
	var letters, weights []any
	for i, l := range strings.Fields("a b c d e f g h i l m n o p q r s t u v z aa aaa azz") {
		letters = append(letters, l)
		weights = append(weights, "w_"+l, (i*7)%11) // ties: sorted by the element
	}
	var kv []any
	for i, k := range keys {
		kv = append(kv, k, fmt.Sprintf("v%d", i))
	}
	ks := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			if i < 0 {
				out = append(out, "missing")
			} else {
				out = append(out, keys[i])
			}
		}
		return out
	}
	sorted := func(c goredis.Cmder) string {
		if sc, ok := c.(*goredis.StringSliceCmd); ok && sc.Err() == nil {
			return fmt.Sprint(slices.Sorted(slices.Values(sc.Val())))
		}
		return c.String()
	}
	steps := []struct {
		name string
		run  func(c *goredis.Client) goredis.Cmder
		show func(goredis.Cmder) string
	}{
		{"flushall", func(c *goredis.Client) goredis.Cmder { return c.FlushAll(ctx) }, nil},
		{"mset", func(c *goredis.Client) goredis.Cmder { return c.MSet(ctx, kv...) }, nil},
		{"mget all", func(c *goredis.Client) goredis.Cmder {
			return c.MGet(ctx, append(slices.Clone(keys), "missing", keys[3])...)
		}, nil},
		{"exists", func(c *goredis.Client) goredis.Cmder { return c.Exists(ctx, ks(0, 1, 2, 3, 4, 5, -1, 0)...) }, nil},
		{"touch", func(c *goredis.Client) goredis.Cmder { return c.Touch(ctx, ks(1, 2, 3, -1)...) }, nil},
		{"del", func(c *goredis.Client) goredis.Cmder { return c.Del(ctx, ks(0, 1, 2, 3, 4, -1)...) }, nil},
		{"unlink", func(c *goredis.Client) goredis.Cmder { return c.Unlink(ctx, ks(5, 6, 0)...) }, nil},
		{"mget after del", func(c *goredis.Client) goredis.Cmder { return c.MGet(ctx, ks(0, 1, 5, 7, 8, 9)...) }, nil},
		{"mset again", func(c *goredis.Client) goredis.Cmder { return c.MSet(ctx, keys[0], "again", keys[9], "again") }, nil},
		{"dbsize", func(c *goredis.Client) goredis.Cmder { return c.DBSize(ctx) }, nil},
		{"keys *", func(c *goredis.Client) goredis.Cmder { return c.Keys(ctx, "*") }, sorted},
		{"keys k1*", func(c *goredis.Client) goredis.Cmder { return c.Keys(ctx, "k1*") }, sorted},
		{"scan all", func(c *goredis.Client) goredis.Cmder { return scanAllCmd(ctx, c, "", "", 3) }, sorted},
		{"scan match", func(c *goredis.Client) goredis.Cmder { return scanAllCmd(ctx, c, "k2*", "", 2) }, sorted},
		{"scan type", func(c *goredis.Client) goredis.Cmder { return scanAllCmd(ctx, c, "", "string", 100) }, sorted},
		{"script load", func(c *goredis.Client) goredis.Cmder { return c.ScriptLoad(ctx, "return KEYS[1]") }, nil},
		{"evalsha", func(c *goredis.Client) goredis.Cmder {
			return c.EvalSha(ctx, "4a2267357833227dd98abdedb8cf24b15a986445", keys[1:2])
		}, nil},
		{"script exists", func(c *goredis.Client) goredis.Cmder {
			return c.ScriptExists(ctx, "4a2267357833227dd98abdedb8cf24b15a986445", "0000000000000000000000000000000000000000")
		}, nil},
		{"script flush", func(c *goredis.Client) goredis.Cmder { return c.ScriptFlush(ctx) }, nil},
		{"script exists after flush", func(c *goredis.Client) goredis.Cmder {
			return c.ScriptExists(ctx, "4a2267357833227dd98abdedb8cf24b15a986445")
		}, nil},
		{"flushdb", func(c *goredis.Client) goredis.Cmder { return c.FlushDB(ctx) }, nil},
		{"dbsize after flush", func(c *goredis.Client) goredis.Cmder { return c.DBSize(ctx) }, nil},
		{"keys after flush", func(c *goredis.Client) goredis.Cmder { return c.Keys(ctx, "*") }, nil},
		{"randomkey of nothing", func(c *goredis.Client) goredis.Cmder { return c.RandomKey(ctx) }, nil},
		{"mget after flush", func(c *goredis.Client) goredis.Cmder { return c.MGet(ctx, ks(0, 9)...) }, nil},
		// SORT reads weights and values, and stores, where those keys live.
		{"sadd", func(c *goredis.Client) goredis.Cmder { return c.SAdd(ctx, keys[0], letters...) }, nil},
		{"weights", func(c *goredis.Client) goredis.Cmder { return c.MSet(ctx, weights...) }, nil},
		{"sort a set by a constant, stored: sorted", func(c *goredis.Client) goredis.Cmder {
			return c.Do(ctx, "sort", keys[0], "by", "_", "desc", "limit", "1", "7", "store", keys[1])
		}, nil},
		{"the stored list", func(c *goredis.Client) goredis.Cmder { return c.LRange(ctx, keys[1], 0, -1) }, nil},
		{"sort by weights", func(c *goredis.Client) goredis.Cmder {
			return c.Do(ctx, "sort", keys[0], "by", "w_*", "limit", "2", "9", "get", "#", "get", "w_*", "get", "h_*->f")
		}, nil},
		{"sort alpha by weights, stored", func(c *goredis.Client) goredis.Cmder {
			return c.Do(ctx, "sort", keys[0], "by", "w_*", "alpha", "desc", "store", keys[2])
		}, nil},
		{"sort a list by nosort, with values", func(c *goredis.Client) goredis.Cmder {
			return c.Do(ctx, "sort", keys[1], "by", "nosort", "get", "w_*")
		}, nil},
	}
	for _, s := range steps {
		show := s.show
		if show == nil {
			show = goredis.Cmder.String
		}
		want, got := show(s.run(ref)), show(s.run(p))
		if got != want {
			t.Errorf("%s: through the proxy\n  %s\none Redis\n  %s", s.name, got, want)
		}
	}

	// RANDOMKEY finds the one key there is, wherever it lives.
	for _, k := range []string{keys[len(keys)-1], keys[0]} {
		p.FlushAll(ctx)
		p.Set(ctx, k, "x", 0)
		if got, err := p.RandomKey(ctx).Result(); err != nil || got != k {
			t.Errorf("RANDOMKEY = %q, %v; want %s, the only key", got, err, k)
		}
	}
	// A command that cannot be split is refused, whatever the shards would say.
	if err := p.MSetNX(ctx, keys[0], "1", keys[1], "2").Err(); err == nil ||
		err.Error() != "CROSSSLOT Keys in request don't hash to the same slot" {
		t.Errorf("MSETNX across groups: %v, want CROSSSLOT", err)
	}
	if n, _ := p.Exists(ctx, keys[1]).Result(); n != 0 {
		t.Error("a refused MSETNX wrote a key")
	}
	p.FlushAll(ctx)
}

// scanAllCmd scans to completion and returns the keys as one command's result.
func scanAllCmd(ctx context.Context, c *goredis.Client, match, typ string, count int64) *goredis.StringSliceCmd {
	out := goredis.NewStringSliceCmd(ctx)
	var all []string
	var cursor uint64
	for i := 0; ; i++ {
		var keys []string
		var err error
		if typ != "" {
			keys, cursor, err = c.ScanType(ctx, cursor, match, count, typ).Result()
		} else {
			keys, cursor, err = c.Scan(ctx, cursor, match, count).Result()
		}
		if err != nil {
			out.SetErr(err)
			return out
		}
		all = append(all, keys...)
		if cursor == 0 {
			break
		}
		if i > 10000 {
			out.SetErr(fmt.Errorf("SCAN did not end"))
			return out
		}
	}
	slices.Sort(all)
	out.SetVal(slices.Compact(all))
	return out
}

// TestShardSetLikeOneRedis: three servers behind backend/shard answer like one.
func TestShardSetLikeOneRedis(t *testing.T) {
	t.Parallel()
	b := shardSet(t)
	ref := redistest.Start(t).Client()
	p := proxyClient(t, b, router.FanoutConfig{MaxShards: 3})
	sameAsOneRedis(t, p, ref, keysOnEveryShard(t, b, 30))
}

// TestMaxShardsEndToEnd: with MaxShards below the shards, wide commands are refused and
// narrow ones served.
func TestMaxShardsEndToEnd(t *testing.T) {
	t.Parallel()
	b := shardSet(t)
	p := proxyClient(t, b, router.FanoutConfig{MaxShards: 2})
	ctx := testCtx(t)
	keys := keysOnEveryShard(t, b, 3)
	for _, tc := range []struct {
		cmd  goredis.Cmder
		want string
	}{
		{p.MGet(ctx, keys...), "ERR redchain: MGET spans 3 shards, more than max-shards 2"},
		{p.Del(ctx, keys...), "ERR redchain: DEL spans 3 shards, more than max-shards 2"},
		{p.Keys(ctx, "*"), "ERR redchain: KEYS spans 3 shards, more than max-shards 2"},
		{p.FlushAll(ctx), "ERR redchain: FLUSHALL spans 3 shards, more than max-shards 2"},
	} {
		if err := tc.cmd.Err(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.cmd.Name(), err, tc.want)
		}
	}
	if err := p.MSet(ctx, keys[0], "a", keys[1], "b").Err(); err != nil {
		t.Errorf("MSET over two shards: %v", err)
	}
	if got, err := p.MGet(ctx, keys[1], keys[0]).Result(); err != nil || fmt.Sprint(got) != "[b a]" {
		t.Errorf("MGET over two shards = %v, %v", got, err)
	}
	if keys, err := scanAllCmd(ctx, p, "", "", 10).Result(); err != nil || len(keys) != 2 {
		t.Errorf("SCAN = %q, %v; want the two keys: SCAN is never refused", keys, err)
	}
}

// TestSingleRedisKeys: in front of one Redis, KEYS * is one request and returns at once
// with every key (a proxy that loops over "shards" there hangs: Envoy did).
func TestSingleRedisKeys(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	ctx := testCtx(t)
	const n = 20000
	pipe := s.Client().Pipeline()
	for i := 0; i < n; i += 1000 {
		var kv []any
		for j := i; j < i+1000; j++ {
			kv = append(kv, fmt.Sprintf("key:%d", j), "v")
		}
		pipe.MSet(ctx, kv...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	p := proxyClient(t, b, router.FanoutConfig{MaxShards: 1})

	start := time.Now()
	keys, err := p.Keys(ctx, "*").Result()
	if err != nil || len(keys) != n {
		t.Fatalf("KEYS * = %d keys, %v; want %d", len(keys), err, n)
	}
	t.Logf("KEYS * of %d keys in %v", n, time.Since(start).Round(time.Millisecond))
	for _, tc := range []struct {
		cmd  goredis.Cmder
		want string
	}{
		{p.DBSize(ctx), fmt.Sprintf("dbsize: %d", n)},
		{p.MGet(ctx, "key:1", "key:2", "nope"), "mget key:1 key:2 nope: [v v <nil>]"},
		{p.Del(ctx, "key:1", "key:2", "nope"), "del key:1 key:2 nope: 2"},
	} {
		if got := tc.cmd.String(); got != tc.want {
			t.Errorf("%s, want %s", got, tc.want)
		}
	}
	if scanned, err := scanAllCmd(ctx, p, "key:1*", "", 1000).Result(); err != nil || len(scanned) != 11110 { // key:1, key:10..19, ..., key:10000..19999; key:1 is gone
		t.Errorf("SCAN MATCH key:1* = %d keys, %v; want 11110", len(scanned), err)
	}
}

// TestClusterLikeOneRedis: a real Redis Cluster (3 primaries, 3 replicas) behind
// backend/cluster answers like one Redis.
func TestClusterLikeOneRedis(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	b, err := cluster.New(cluster.Config{Seeds: c.Seeds()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if b.Shards() != 3 {
		t.Fatalf("Shards = %d, want the 3 primaries", b.Shards())
	}
	ref := redistest.Start(t).Client()
	addr := serveProxy(t, b, router.FanoutConfig{})
	p := client(t, addr)
	keys := keysOnEveryShard(t, b, 30)
	sameAsOneRedis(t, p, ref, keys)
	inOrder(t, clientProto(t, addr, 3), keys)

	// Each key is where the cluster says.
	ctx := testCtx(t)
	if err := p.MSet(ctx, keys[0], "a", keys[1], "b", keys[2], "c").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Client().MGet(ctx, keys[2]).Result(); err != nil || fmt.Sprint(got) != "[c]" {
		t.Errorf("the cluster has %s = %v, %v", keys[2], got, err)
	}
	// A transaction and a blocking command run on a dedicated connection; split
	// commands after them go to the shared connections again.
	if _, err := p.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.Set(ctx, keys[0], "tx", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.MGet(ctx, keys[0], keys[1]).Result(); err != nil || fmt.Sprint(got) != "[tx b]" {
		t.Errorf("MGET after a transaction = %v, %v", got, err)
	}
	if err := p.BLPop(ctx, 50*time.Millisecond, "nolist").Err(); err != goredis.Nil {
		t.Errorf("BLPOP = %v, want nil after its timeout", err)
	}
	if n, err := p.Exists(ctx, keys[0], keys[1], keys[2]).Result(); err != nil || n != 3 {
		t.Errorf("EXISTS after a blocking command = %d, %v", n, err)
	}
	// MaxShards counts primaries, not slots.
	p2 := proxyClient(t, b, router.FanoutConfig{MaxShards: 2})
	if err := p2.MGet(ctx, keys[:3]...).Err(); err == nil || !strings.Contains(err.Error(), "MGET spans 3 shards") {
		t.Errorf("MGET over 3 primaries with MaxShards 2: %v", err)
	}
	if got, err := p2.MGet(ctx, keys[0], keys[3]).Result(); err != nil || fmt.Sprint(got) != "[tx <nil>]" {
		t.Errorf("MGET over 2 slots of one primary with MaxShards 2 = %v, %v", got, err)
	}
}

// inOrder pipelines SETs of two keys on different shards and an MGET of both, again and
// again: the MGET, split and sent in parts, must see the SETs sent before it whole. A
// RESP3 client's commands travel over RESP3 server connections: parts sent over RESP2
// ones would overtake them now and then.
func inOrder(t *testing.T, p *goredis.Client, keys []string) {
	t.Helper()
	ctx := testCtx(t)
	for i := range 300 {
		pipe := p.Pipeline()
		v := fmt.Sprint(i)
		pipe.Set(ctx, keys[0], v, 0)
		pipe.Set(ctx, keys[1], v, 0)
		m := pipe.MGet(ctx, keys[0], keys[1])
		n := pipe.Exists(ctx, keys[0], keys[1], keys[2])
		pipe.Del(ctx, keys[2])
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(m.Val()); got != fmt.Sprintf("[%s %s]", v, v) || n.Val() != 2 {
			t.Fatalf("round %d: MGET = %s, EXISTS = %d after the SETs: a part overtook them", i, got, n.Val())
		}
	}
}

func TestOrderKept(t *testing.T) {
	t.Parallel()
	b := shardSet(t)
	addr := serveProxy(t, b, router.FanoutConfig{})
	keys := keysOnEveryShard(t, b, 3)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			inOrder(t, clientProto(t, addr, proto), keys)
		})
	}
}

// TestEveryShardCommands: the commands whose request policy is every shard (Redis's
// command tips) reach every server of a shard set: a library loaded through the proxy
// runs on the shard of any key, a configuration set through it is every server's, and
// a function deleted through it is gone everywhere.
func TestEveryShardCommands(t *testing.T) {
	t.Parallel()
	b := shardSet(t)
	p := proxyClient(t, b, router.FanoutConfig{})
	ctx := testCtx(t)
	lib := "#!lua name=everywhere\nredis.register_function('setv', function(keys, args) return redis.call('set', keys[1], args[1]) end)"
	if got, err := p.FunctionLoad(ctx, lib).Result(); err != nil || got != "everywhere" {
		t.Fatalf("FUNCTION LOAD = %q, %v", got, err)
	}
	for _, k := range keysOnEveryShard(t, b, 9) {
		if err := p.FCall(ctx, "setv", []string{k}, "x").Err(); err != nil {
			t.Errorf("FCALL setv on %s (shard of %s): %v", k, b.ServerFor([]byte(k)), err)
		}
	}
	if err := p.ConfigSet(ctx, "maxmemory-samples", "7").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range b.Shards() {
		addr := b.ServerFor([]byte(keysOnEveryShard(t, b, b.Shards())[i]))
		direct := goredis.NewClient(&goredis.Options{Addr: addr})
		got, err := direct.ConfigGet(ctx, "maxmemory-samples").Result()
		direct.Close()
		if err != nil || got["maxmemory-samples"] != "7" {
			t.Errorf("%s: maxmemory-samples = %v, %v; want 7", addr, got, err)
		}
	}
	if err := p.FunctionDelete(ctx, "everywhere").Err(); err != nil {
		t.Fatal(err)
	}
	if err := p.FCall(ctx, "setv", []string{"k"}, "x").Err(); err == nil || !strings.Contains(err.Error(), "Function not found") {
		t.Errorf("FCALL after FUNCTION DELETE: %v", err)
	}
}

// subscribed waits for the confirmation of s's subscription and closes s when the test
// ends.
func subscribed(t *testing.T, s *goredis.PubSub) *goredis.PubSub {
	t.Helper()
	t.Cleanup(func() { s.Close() })
	if _, err := s.Receive(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestShardSetStateful: a shard set lends dedicated connections, bound to the server of
// a transaction's, a WATCH's or a blocking command's keys; what spans servers is
// refused, and a transaction with a refused command is aborted as Redis aborts one.
// Pub/sub counts and INFO are those of the whole set.
func TestShardSetStateful(t *testing.T) {
	t.Parallel()
	b := shardSet(t)
	addr := serveProxy(t, b, router.FanoutConfig{})
	p := client(t, addr)
	ctx := testCtx(t)
	keys := keysOnEveryShard(t, b, 3)
	a, other := keys[0], keys[1]
	tagged := "{" + a + "}.2" // on a's server

	cmds, err := p.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.Set(ctx, a, "1", 0)
		pipe.Incr(ctx, tagged)
		return nil
	})
	if err != nil || len(cmds) != 2 || cmds[1].(*goredis.IntCmd).Val() != 1 {
		t.Fatalf("a transaction on one server: %v, %v", cmds, err)
	}
	_, err = p.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.Set(ctx, a, "2", 0)
		pipe.Set(ctx, other, "2", 0)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "EXECABORT") {
		t.Fatalf("a transaction over two servers: %v, want EXECABORT", err)
	}
	if got, _ := p.Get(ctx, a).Result(); got != "1" {
		t.Errorf("after the aborted transaction %s = %q, want 1", a, got)
	}

	// A whole-keyspace command of a client in a state (WATCH) reaches every server,
	// and touches the watched key where it lives.
	if err := p.Set(ctx, other, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := p.Watch(ctx, func(tx *goredis.Tx) error {
		if n, err := tx.DBSize(ctx).Result(); err != nil || n < 2 {
			t.Errorf("DBSIZE while watching = %d, %v; want the keys of every server", n, err)
		}
		if err := tx.FlushDB(ctx).Err(); err != nil {
			return err
		}
		_, err := tx.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
			pipe.Ping(ctx)
			return nil
		})
		return err
	}, other); err != goredis.TxFailedErr {
		t.Errorf("EXEC after FLUSHDB touched the watched key: %v, want %v", err, goredis.TxFailedErr)
	}
	if n, err := p.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE after FLUSHDB = %d, %v", n, err)
	}
	if _, err := p.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.Set(ctx, a, "1", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// WATCH, and a write of the watched key by another client.
	err = p.Watch(ctx, func(tx *goredis.Tx) error {
		if err := client(t, addr).Set(ctx, a, "changed", 0).Err(); err != nil {
			return err
		}
		_, err := tx.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
			pipe.Set(ctx, a, "mine", 0)
			return nil
		})
		return err
	}, a)
	if err != goredis.TxFailedErr {
		t.Errorf("EXEC after the watched key changed: %v, want %v", err, goredis.TxFailedErr)
	}

	// A blocking command waits on its key's server, woken by a push through the proxy.
	popped := make(chan []string, 1)
	go func() {
		v, _ := client(t, addr).BLPop(ctx, 0, other).Result()
		popped <- v
	}()
	pusher := client(t, addr)
	for {
		if n, err := p.Do(ctx, "client", "list").Text(); err != nil || strings.Contains(n, "cmd=blpop") {
			break
		}
		if err := ctx.Err(); err != nil {
			t.Fatal("BLPOP never blocked")
		}
	}
	if err := pusher.RPush(ctx, other, "x").Err(); err != nil {
		t.Fatal(err)
	}
	if v := <-popped; fmt.Sprint(v) != fmt.Sprintf("[%s x]", other) {
		t.Errorf("BLPOP = %v", v)
	}

	// CLIENT UNBLOCK reaches the server the command waits on, whichever it is.
	for _, k := range keys {
		blocked := client(t, addr)
		id, err := blocked.ClientID(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		go func() { res <- blocked.BLPop(ctx, 0, k+":none").Err() }()
		for {
			n, err := p.ClientUnblock(ctx, id).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("CLIENT UNBLOCK of a client blocked on %s's server never unblocked it", k)
			}
		}
		if err := <-res; err != goredis.Nil {
			t.Errorf("BLPOP unblocked: %v, want nil", err)
		}
	}

	// Subscribers and counts.
	sub := subscribed(t, client(t, addr).Subscribe(ctx, "news"))
	psub := subscribed(t, client(t, addr).PSubscribe(ctx, "ne*"))
	if n, err := p.Publish(ctx, "news", "hi").Result(); err != nil || n != 2 {
		t.Errorf("PUBLISH = %d, %v; want 2 receivers", n, err)
	}
	for _, s := range []*goredis.PubSub{sub, psub} {
		if m, err := s.ReceiveMessage(ctx); err != nil || m.Payload != "hi" {
			t.Errorf("message = %v, %v", m, err)
		}
	}
	if got, err := p.PubSubNumSub(ctx, "news", "none").Result(); err != nil || got["news"] != 1 || got["none"] != 0 {
		t.Errorf("PUBSUB NUMSUB = %v, %v", got, err)
	}
	if got, err := p.PubSubNumPat(ctx).Result(); err != nil || got != 1 {
		t.Errorf("PUBSUB NUMPAT = %v, %v", got, err)
	}
	if got, err := p.PubSubChannels(ctx, "*").Result(); err != nil || fmt.Sprint(got) != "[news]" {
		t.Errorf("PUBSUB CHANNELS = %v, %v", got, err)
	}

	// Keyspace notifications come from every server.
	if err := p.ConfigSet(ctx, "notify-keyspace-events", "E$").Err(); err != nil {
		t.Fatal(err)
	}
	events := subscribed(t, client(t, addr).PSubscribe(ctx, "__keyevent@0__:*"))
	for _, k := range keys {
		if err := p.Set(ctx, k, "e", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for range keys {
		m, err := events.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("keyspace events %v, then %v", seen, err)
		}
		seen[m.Payload] = m.Channel == "__keyevent@0__:set"
	}
	for _, k := range keys {
		if !seen[k] {
			t.Errorf("no set event for %s (on %s): %v", k, b.ServerFor([]byte(k)), seen)
		}
	}

	// INFO adds up the servers and presents one standalone Redis.
	var want int64
	for i := range b.Shards() {
		direct := goredis.NewClient(&goredis.Options{Addr: b.ServerFor([]byte(keys[i]))})
		n, err := direct.DBSize(ctx).Result()
		direct.Close()
		if err != nil {
			t.Fatal(err)
		}
		want += n
	}
	info, err := p.Info(ctx, "server", "keyspace").Result()
	if err != nil || !strings.Contains(info, "redis_mode:standalone") || !strings.Contains(info, fmt.Sprintf("db0:keys=%d,", want)) {
		t.Errorf("INFO (want db0:keys=%d):\n%s %v", want, info, err)
	}
	if err := p.Do(ctx, "select", "1").Err(); err == nil || !strings.Contains(err.Error(), "SELECT is not supported") {
		t.Errorf("SELECT 1: %v", err)
	}
}

// TestClusterPubSub: through a cluster, a pattern subscriber gets each PUBLISH once
// (Redis Cluster gives it to every node's subscribers) and the keyspace notifications
// of every primary; PUBLISH counts the proxy's subscribers.
func TestClusterPubSub(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	b, err := cluster.New(cluster.Config{Seeds: c.Seeds()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	addr := serveProxy(t, b, router.FanoutConfig{})
	p := client(t, addr)
	ctx := testCtx(t)
	keys := keysOnEveryShard(t, b, 3)
	if err := p.ConfigSet(ctx, "notify-keyspace-events", "E$").Err(); err != nil {
		t.Fatal(err)
	}
	all := subscribed(t, client(t, addr).PSubscribe(ctx, "*"))
	news := subscribed(t, client(t, addr).Subscribe(ctx, "news"))
	if n, err := p.Publish(ctx, "news", "one").Result(); err != nil || n != 2 {
		t.Errorf("PUBLISH = %d, %v; want the 2 subscribers", n, err)
	}
	for _, k := range keys {
		if err := p.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Publish(ctx, "news", "two").Err(); err != nil {
		t.Fatal(err)
	}
	// The messages of different nodes come in any order: as many as expected, and
	// each of them once (a second copy of a message would take the place of one).
	want := append([]string{"one", "two"}, keys...)
	slices.Sort(want)
	var got []string
	for range want {
		m, err := all.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, m.Payload)
	}
	slices.Sort(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pattern subscriber got %v, want each of %v once", got, want)
	}
	if m, err := news.ReceiveMessage(ctx); err != nil || m.Payload != "one" {
		t.Errorf("channel subscriber got %v, %v", m, err)
	}
}
