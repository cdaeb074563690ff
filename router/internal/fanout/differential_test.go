package fanout_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// The differential test: the same random stream of commands goes to one plain Redis
// and, through the proxy, to a shard set of 3 servers and to a cluster of 3 primaries;
// every reply must be the same, or one of the refusals router/FANOUT.md documents (the
// command is then not sent to the plain Redis either, so that the data stay the same).

// diffKeys are the keys of the stream: some share a hash tag, most do not, so that
// multi-key commands land on one server or several. (Keys that differ in their last
// byte only hash close together with twemproxy's FNV-1a: these are spread.)
var diffKeys = func() []string {
	ks := []string{"{t}1", "{t}2", "{t}3", "{u}1", "{u}2"}
	for i := range 12 {
		ks = append(ks, fmt.Sprintf("user:%08x", uint32(i)*2654435761))
	}
	return ks
}()

// unordered are the commands whose reply is a set: compared sorted.
var unordered = map[string]bool{"keys": true, "smembers": true, "sunion": true, "sinter": true,
	"sdiff": true, "hkeys": true, "hvals": true, "hgetall": true}

// refusal reports whether err is a refusal the proxy documents for a sharded backend.
func refusal(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.HasPrefix(s, "CROSSSLOT ")
}

// diffCommand returns a random command of the stream.
func diffCommand(r *rand.Rand) []any {
	k := func() string { return diffKeys[r.IntN(len(diffKeys))] }
	n := func() string { return strconv.Itoa(r.IntN(20) - 5) }
	v := func() string { return "v" + strconv.Itoa(r.IntN(5)) }
	keys := func(min int) []any {
		var out []any
		for range min + r.IntN(3) {
			out = append(out, k())
		}
		return out
	}
	cmds := [][]any{
		{"set", k(), v()}, {"get", k()}, {"incrby", k(), n()}, {"append", k(), v()}, {"strlen", k()},
		{"getdel", k()}, {"setnx", k(), v()}, {"getrange", k(), n(), n()},
		append([]any{"mget"}, keys(1)...), append([]any{"del"}, keys(1)...), append([]any{"exists"}, keys(1)...),
		append([]any{"unlink"}, keys(1)...), append([]any{"touch"}, keys(1)...),
		{"mset", k(), v(), k(), v(), k(), v()}, {"msetnx", k(), v(), k(), v()},
		{"hset", k(), v(), n()}, {"hget", k(), v()}, {"hgetall", k()}, {"hincrby", k(), v(), n()}, {"hdel", k(), v()},
		{"rpush", k(), v(), n()}, {"lpop", k()}, {"lrange", k(), "0", "-1"}, {"lmove", k(), k(), "left", "right"},
		{"rpoplpush", k(), k()}, {"llen", k()},
		{"sadd", k(), v(), n()}, {"smembers", k()}, {"srem", k(), v()}, {"smove", k(), k(), v()},
		append([]any{"sunion"}, keys(1)...), append([]any{"sinterstore", k()}, keys(1)...),
		{"zadd", k(), n(), v()}, {"zrange", k(), "0", "-1", "withscores"}, {"zincrby", k(), n(), v()},
		{"zunionstore", k(), "2", k(), k()}, {"zcard", k()},
		{"type", k()}, {"expire", k(), "100"}, {"ttl", k()}, {"persist", k()},
		{"rename", k(), k()}, {"copy", k(), k(), "replace"},
		{"pfadd", k(), v()}, {"pfcount", k(), k()}, {"bitop", "or", k(), k(), k()},
		{"dbsize"}, {"keys", "*"}, {"keys", "{t}*"},
		{"sort", k(), "alpha"}, {"sort", k(), "by", "w_*", "get", "#"}, {"sort", "{t}1", "by", "{t}w_*"},
		// SORT's patterns name keys anywhere: weights, and hash fields (numeric BY: ties
		// go by the element, so the order is Redis's own; BY nosort only with STORE,
		// which sorts a set, whose own order differs between servers).
		{"set", "w_" + v(), n()}, {"hset", "h_" + v(), "f", n()},
		{"sort", k(), "by", "w_*", "get", "#", "get", "w_*", "get", "h_*->f"},
		{"sort", k(), "by", "h_*->f", "desc", "limit", n(), n(), "get", "w_*"},
		{"sort", k(), "by", "w_*", "store", k()}, {"sort", k(), "get", "h_*->f", "store", k()},
		{"sort", k(), "limit", "1", "2", "store", k()}, {"sort_ro", k(), "by", "w_*", "get", "#"},
		{"sort", k(), "by", "nosort", "store", k()}, {"sort", k(), "by", "_", "desc", "limit", "1", "3", "get", "w_*", "store", k()},
		{"eval", "return redis.call('get', KEYS[1])", "1", k()},
		{"eval", "return redis.call('incr', KEYS[1]) + redis.call('incr', KEYS[2])", "2", k(), k()},
	}
	if r.IntN(200) == 0 {
		return []any{"flushall"}
	}
	return cmds[r.IntN(len(cmds))]
}

// normalize is the comparable form of a reply.
func normalize(name string, v any, err error) string {
	if err != nil {
		if err == goredis.Nil {
			return "nil"
		}
		return "error " + err.Error()
	}
	if vs, ok := v.([]any); ok && unordered[name] {
		s := make([]string, len(vs))
		for i, e := range vs {
			s[i] = fmt.Sprint(e)
		}
		slices.Sort(s)
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v", v)
}

// differential runs the stream through p and on ref, and compares.
func differential(t *testing.T, b backend.Sharded, p, ref *goredis.Client, seed uint64, n int) {
	ctx := testCtx(t)
	on := map[int]int{}
	for _, k := range diffKeys {
		_, s := b.Locate([]byte(k))
		on[s]++
	}
	if len(on) != b.Shards() {
		t.Fatalf("the keys are on shards %v of %d: the stream would not span them", on, b.Shards())
	}
	if err := ref.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 0))
	refused := map[string]int{}
	for i := range n {
		cmd := diffCommand(r)
		name := cmd[0].(string)
		got, gerr := p.Do(ctx, cmd...).Result()
		if refusal(gerr) {
			refused[name]++
			continue
		}
		want, werr := ref.Do(ctx, cmd...).Result()
		if g, w := normalize(name, got, gerr), normalize(name, want, werr); g != w {
			t.Fatalf("seed %d, command %d %v:\n proxy %s\n redis %s", seed, i, cmd, g, w)
		}
	}
	t.Logf("seed %d: %d commands, refused as documented: %v", seed, n, refused)
}

// TestDifferential: a shard set and a cluster answer like one Redis, command after
// command, but for the documented refusals.
func TestDifferential(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	ref := redistest.Start(t).Client()
	c := redistest.StartCluster(t)
	cb, err := cluster.New(cluster.Config{Seeds: c.Seeds()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cb.Close() })
	for _, tc := range []struct {
		name string
		b    backend.Sharded
	}{{"shard set", shardSet(t)}, {"cluster", cb}} {
		p := proxyClient(t, tc.b, router.FanoutConfig{})
		t.Run(tc.name, func(t *testing.T) { differential(t, tc.b, p, ref, seed, 3000) })
	}
}
