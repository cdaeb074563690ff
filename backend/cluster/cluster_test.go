package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

// TestCluster runs the tests that share one cluster (3 primaries, 3 replicas), one
// after the other: they move slots, so they must not overlap.
func TestCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := redistest.StartCluster(t)
	t.Logf("cluster started in %v", time.Since(start).Round(time.Millisecond))

	t.Run("Spread", func(t *testing.T) { testSpread(t, c) })
	t.Run("Keyless", func(t *testing.T) { testKeyless(t, c) })
	t.Run("Moved", func(t *testing.T) { testMoved(t, c) })
	t.Run("Ask", func(t *testing.T) { testAsk(t, c) })
	t.Run("ScriptRedirects", func(t *testing.T) { testScriptRedirects(t, c) })
	t.Run("ReadFromReplica", func(t *testing.T) { testReadFromReplica(t, c) })
	t.Run("CloseInFlight", func(t *testing.T) { testCloseInFlight(t, c) })
	t.Run("EndToEnd", func(t *testing.T) { testEndToEnd(t, c) })
	t.Run("LateSeed", func(t *testing.T) { testLateSeed(t, c) })
}

// testSpread writes keys of every shard through a proxy and reads them directly from
// the cluster, and the other way round.
func testSpread(t *testing.T, c *redistest.Cluster) {
	ctx := context.Background()
	b := newBackend(t, cluster.Config{Seeds: c.Seeds()[:1]})
	if got := b.Shards(); got != 3 {
		t.Fatalf("Shards() = %d, want 3", got)
	}
	p := proxyFor(t, b)
	direct := c.Client()

	const n = 600
	pipe := p.Pipeline()
	for i := range n {
		k := "spread:" + strconv.Itoa(i)
		pipe.Set(ctx, k, i, 0)
		pipe.IncrBy(ctx, "ctr:"+k, 2)
		pipe.Incr(ctx, "ctr:"+k)
		pipe.HSet(ctx, "h:"+k, "f", i, "g", "x")
		pipe.RPush(ctx, "l:"+k, "a", "b")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline through the proxy: %v", err)
	}
	slots := map[int]bool{}
	for i := range n {
		k := "spread:" + strconv.Itoa(i)
		slots[int(command.Slot([]byte(k)))] = true
		if v, err := direct.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("cluster GET %s = %d, %v; want %d", k, v, err, i)
		}
		if v, err := direct.Get(ctx, "ctr:"+k).Int(); err != nil || v != 3 {
			t.Fatalf("cluster GET ctr:%s = %d, %v; want 3", k, v, err)
		}
		if v, err := direct.HGet(ctx, "h:"+k, "f").Int(); err != nil || v != i {
			t.Fatalf("cluster HGET h:%s = %d, %v; want %d", k, v, err, i)
		}
	}
	// The other way: written directly, read through the proxy.
	for i := range 100 {
		k := "direct:" + strconv.Itoa(i)
		if err := direct.Set(ctx, k, "d"+strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := p.Get(ctx, k).Result(); err != nil || v != "d"+strconv.Itoa(i) {
			t.Fatalf("proxy GET %s = %q, %v", k, v, err)
		}
		if v, err := p.LRange(ctx, "l:spread:"+strconv.Itoa(i), 0, -1).Result(); err != nil || strings.Join(v, ",") != "a,b" {
			t.Fatalf("proxy LRANGE = %v, %v", v, err)
		}
	}
	t.Logf("%d keys in %d slots", n, len(slots))
	if st := b.Stats(); st.Conns == 0 || st.ConnsUp != st.Conns {
		t.Errorf("Stats = %+v, want every connection up", st)
	}
	if cn := b.Counters(); cn.Moved != 0 || cn.Ask != 0 {
		t.Errorf("Counters = %+v, want no redirection on a stable cluster", cn)
	}

	// Keys in different slots: Redis's own CROSSSLOT, and nothing written.
	a, z := redistest.KeyInSlot(1), redistest.KeyInSlot(16000)
	err := p.MSet(ctx, a, "1", z, "2").Err()
	if err == nil || err.Error() != "CROSSSLOT Keys in request don't hash to the same slot" {
		t.Fatalf("cross-slot MSET: %v", err)
	}
	if n, _ := direct.Exists(ctx, a, z).Result(); n != 0 {
		t.Fatalf("cross-slot MSET wrote %d keys", n)
	}
	// Hash tags keep keys together.
	if err := p.MSet(ctx, "{user1}.name", "ann", "{user1}.mail", "ann@example.com").Err(); err != nil {
		t.Fatalf("MSET with a hash tag: %v", err)
	}
	if v, err := p.MGet(ctx, "{user1}.name", "{user1}.mail").Result(); err != nil || fmt.Sprint(v) != "[ann ann@example.com]" {
		t.Fatalf("MGET with a hash tag = %v, %v", v, err)
	}
	if n, err := p.Del(ctx, "{user1}.name", "{user1}.mail").Result(); err != nil || n != 2 {
		t.Fatalf("DEL with a hash tag = %d, %v", n, err)
	}
}

// testKeyless checks commands without keys, empty and unknown ones, Locate and
// SendShard.
func testKeyless(t *testing.T, c *redistest.Cluster) {
	b := newBackend(t, cluster.Config{Seeds: c.Seeds()})
	if r := mustDo(t, b, "PING"); r != "+PONG\r\n" {
		t.Fatalf("PING = %q", r)
	}
	// A session sticks to one shard for its keyless commands.
	for id := range uint64(6) {
		ctx := backend.WithSession(context.Background(), id)
		if r, err := doCtx(t, ctx, b, "ECHO", "x"); err != nil || r != "$1\r\nx\r\n" {
			t.Fatalf("ECHO = %q, %v", r, err)
		}
	}
	var empty string
	ch := make(chan string, 1)
	b.Send(context.Background(), resp.Command{}, func(v resp.Value, err error) { ch <- string(v.AppendTo(nil)) })
	if empty = <-ch; empty != "-ERR empty command\r\n" {
		t.Fatalf("empty command = %q", empty)
	}
	// A command the model does not know never goes over a shared connection.
	if r, _ := do(t, b, "NOSUCHCOMMAND", "a"); !strings.Contains(r, "cannot be sent on a shared backend connection") {
		t.Fatalf("unknown command = %q", r)
	}
	// Locate agrees with the cluster; SendShard reaches each shard's primary.
	for _, key := range []string{"a", "b", "c", "{x}y", "spread:1"} {
		slot, shard := b.Locate([]byte(key))
		if slot != int(command.Slot([]byte(key))) {
			t.Fatalf("Locate(%q) slot %d", key, slot)
		}
		if want := c.PrimaryOf(slot).Addr(); b.NodeFor(slot) != want {
			t.Fatalf("NodeFor(%d) = %s, want %s", slot, b.NodeFor(slot), want)
		}
		_ = shard
	}
	ids := map[string]bool{}
	for i := range b.Shards() {
		ch := make(chan string, 1)
		b.SendShard(context.Background(), i, resp.NewCommand("INFO", "server"), func(v resp.Value, err error) {
			d, _ := v.Decode()
			_, port, _ := strings.Cut(string(d.Str), "tcp_port:")
			port, _, _ = strings.Cut(port, "\r\n")
			ch <- port + fmt.Sprint(err)
		})
		ids[<-ch] = true
	}
	if len(ids) != 3 {
		t.Fatalf("SendShard reached %d distinct nodes, want 3: %v", len(ids), ids)
	}
	ch2 := make(chan error, 1)
	b.SendShard(context.Background(), 3, resp.NewCommand("DBSIZE"), func(_ resp.Value, err error) { ch2 <- err })
	if err := <-ch2; !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("SendShard out of range: %v", err)
	}
}

// otherPrimary returns a primary that does not serve slot.
func otherPrimary(t *testing.T, c *redistest.Cluster, slot int) *redistest.ClusterNode {
	t.Helper()
	owner := c.PrimaryOf(slot)
	for _, p := range c.Primaries() {
		if p != owner {
			return p
		}
	}
	t.Fatal("no other primary")
	return nil
}

// testMoved moves a slot behind the backend's back: the first command gets -MOVED and
// follows it, and updates the map, so the next one goes straight to the new owner.
func testMoved(t *testing.T, c *redistest.Cluster) {
	ctx := context.Background()
	// No periodic refresh: only the -MOVED can tell the backend.
	b := newBackend(t, cluster.Config{Seeds: c.Seeds(), RefreshInterval: time.Hour})
	p := proxyFor(t, b)
	refreshes := b.Counters().Refreshes
	const slot = 777
	keys := redistest.KeysInSlot(slot, 5)
	for i, k := range keys {
		mustDo(t, b, "SET", k, strconv.Itoa(i))
	}
	// A refresh asked for by something else (a command that timed out on a loaded
	// machine) may learn of the move before the -MOVED does: then move the slot again.
	var to *redistest.ClusterNode
	for attempt := 1; ; attempt++ {
		before, moved := b.Counters().Refreshes, b.Counters().Moved
		to = otherPrimary(t, c, slot)
		c.MoveSlot(t, slot, to)
		if r := mustDo(t, b, "GET", keys[0]); r != "$1\r\n0\r\n" {
			t.Fatalf("GET after MoveSlot = %q", r)
		}
		got := b.Counters().Moved - moved
		if got == 0 && b.Counters().Refreshes != before && attempt < 5 {
			t.Logf("a refresh learned of the move first (attempt %d): again", attempt)
			continue
		}
		if got != 1 {
			t.Fatalf("Moved = %d after the first command, want 1", got)
		}
		refreshes = before // the refresh this -MOVED asks for comes after it
		break
	}
	if got := b.NodeFor(slot); got != to.Addr() {
		t.Fatalf("NodeFor(%d) = %s, want %s right after the -MOVED", slot, got, to.Addr())
	}
	for i, k := range keys {
		if v, err := p.Get(ctx, k).Result(); err != nil || v != strconv.Itoa(i) {
			t.Fatalf("proxy GET %s = %q, %v", k, v, err)
		}
	}
	if got := b.Counters().Moved; got != 1 {
		t.Fatalf("Moved = %d after more commands, want still 1: the map was not updated", got)
	}

	// The refresh the -MOVED asked for comes: after it, only the next -MOVED can tell
	// the backend of the next move.
	poll(t, wait, func() string {
		if got := b.Counters().Refreshes; got <= refreshes {
			return fmt.Sprintf("refreshes %d, still %d", got, refreshes)
		}
		return ""
	})

	// Through the proxy (event-loop connections) too, on another slot.
	const slot2 = 15000
	k2 := redistest.KeyInSlot(slot2)
	if err := p.Set(ctx, k2, "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.MoveSlot(t, slot2, otherPrimary(t, c, slot2))
	if v, err := p.Get(ctx, k2).Result(); err != nil || v != "v2" {
		t.Fatalf("proxy GET after MoveSlot = %q, %v", v, err)
	}
	if got := b.Counters().Moved; got != 2 {
		t.Fatalf("Moved = %d, want 2", got)
	}
	// The refresh that a -MOVED asks for comes soon and agrees.
	poll(t, wait, func() string {
		if b.Counters().Refreshes < 2 {
			return "no refresh after the -MOVED"
		}
		return ""
	})
}

// testAsk reads and writes a slot in the middle of a migration: keys moved already
// are answered with -ASK, followed with ASKING.
func testAsk(t *testing.T, c *redistest.Cluster) {
	ctx := context.Background()
	b := newBackend(t, cluster.Config{Seeds: c.Seeds(), RefreshInterval: time.Hour})
	p := proxyFor(t, b)
	const slot = 4242
	keys := redistest.KeysInSlot(slot, 20)
	for i, k := range keys {
		mustDo(t, b, "SET", k, strconv.Itoa(i))
	}
	to := otherPrimary(t, c, slot)
	c.BeginMigration(t, slot, to)
	if moved := c.MigrateKeys(t, slot, 10); moved != 10 {
		t.Fatalf("MigrateKeys moved %d", moved)
	}
	check := func(when string) {
		t.Helper()
		for i, k := range keys {
			want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(i)), i)
			if r := mustDo(t, b, "GET", k); r != want {
				t.Fatalf("%s: backend GET %s = %q, want %q", when, k, r, want)
			}
			if v, err := p.Get(ctx, k).Result(); err != nil || v != strconv.Itoa(i) {
				t.Fatalf("%s: proxy GET %s = %q, %v", when, k, v, err)
			}
		}
	}
	check("during the migration")
	if cn := b.Counters(); cn.Ask < 20 {
		t.Fatalf("Ask = %d, want 20 or more (10 migrated keys, read twice)", cn.Ask)
	}
	// New keys of a migrating slot are written on the target.
	tag := keys[0][:strings.Index(keys[0], "}")+1]
	for j := range 5 {
		k := tag + "new" + strconv.Itoa(j)
		mustDo(t, b, "SET", k, "n")
		if err := p.Set(ctx, k+"p", "n", 0).Err(); err != nil {
			t.Fatalf("proxy SET %s during the migration: %v", k, err)
		}
	}
	// A multi-key command over both halves gets -TRYAGAIN from Redis until the end of
	// the migration: retried a few times, then given to the client.
	before := b.Counters().TryAgain
	if r, _ := do(t, b, "MGET", keys[0], keys[19]); !strings.HasPrefix(r, "-TRYAGAIN") {
		t.Logf("MGET over both halves = %q (the keys moved in another order)", r)
	} else if got := b.Counters().TryAgain - before; got != 3 {
		t.Fatalf("TRYAGAIN retried %d times, want 3", got)
	}
	c.EndMigration(t, slot)
	check("after the migration")
	for j := range 5 {
		k := tag + "new" + strconv.Itoa(j)
		if v, err := c.Client().Get(ctx, k).Result(); err != nil || v != "n" {
			t.Fatalf("cluster GET %s = %q, %v", k, v, err)
		}
		if v, err := p.Get(ctx, k+"p").Result(); err != nil || v != "n" {
			t.Fatalf("proxy GET %s = %q, %v", k+"p", v, err)
		}
	}
}

// commandCalls returns the calls of a command on node n (INFO commandstats).
func commandCalls(t *testing.T, n *redistest.ClusterNode, cmd string) int {
	t.Helper()
	info, err := n.Client().Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats on %v: %v", n, err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			v, _, _ := strings.Cut(rest, ",")
			calls, _ := strconv.Atoi(v)
			return calls
		}
	}
	return 0
}

// testReadFromReplica checks that with ReadFrom Replica reads are served by a replica
// and writes by the primary.
func testReadFromReplica(t *testing.T, c *redistest.Cluster) {
	ctx := context.Background()
	b := newBackend(t, cluster.Config{Seeds: c.Seeds(), ReadFrom: cluster.Replica})
	p := proxyFor(t, b)
	const slot = 9000
	primary := c.PrimaryOf(slot)
	replicas := c.ReplicasOf(primary)
	if len(replicas) != 1 {
		t.Fatalf("%v has replicas %v", primary, replicas)
	}
	replica := replicas[0]
	for _, n := range []*redistest.ClusterNode{primary, replica} {
		if err := n.Client().ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	k := redistest.KeyInSlot(slot)
	if err := p.Set(ctx, k, "r", 0).Err(); err != nil {
		t.Fatalf("SET through a ReadFrom Replica proxy: %v", err)
	}
	// Replication is asynchronous: the replica has the key a moment later.
	poll(t, wait, func() string {
		v, err := p.Get(ctx, k).Result()
		if err != nil || v != "r" {
			return fmt.Sprintf("GET = %q, %v", v, err)
		}
		return ""
	})
	for range 10 {
		mustDo(t, b, "GET", k)
	}
	if got := commandCalls(t, replica, "get"); got < 11 {
		t.Errorf("the replica served %d GETs, want 11 or more", got)
	}
	if got := commandCalls(t, primary, "get"); got != 0 {
		t.Errorf("the primary served %d GETs, want 0", got)
	}
	if got := commandCalls(t, primary, "set"); got != 1 {
		t.Errorf("the primary served %d SETs, want 1", got)
	}
	if cn := b.Counters(); cn.Moved != 0 {
		t.Errorf("Moved = %d: a command went to the wrong node", cn.Moved)
	}
}

// testCloseInFlight closes the backend under a stream of commands: each callback runs
// exactly once, with a reply or ErrClosed, and later Sends fail with ErrClosed.
func testCloseInFlight(t *testing.T, c *redistest.Cluster) {
	b, err := cluster.New(cluster.Config{Seeds: c.Seeds()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	var calls [n]atomic.Int32
	var wg sync.WaitGroup
	wg.Add(n)
	var closedErrs atomic.Int32
	for i := range n {
		if i == n/2 {
			go b.Close()
		}
		b.Send(context.Background(), resp.NewCommand("INCR", "close:"+strconv.Itoa(i%50)), func(v resp.Value, err error) {
			if calls[i].Add(1) == 1 {
				wg.Done()
			}
			if errors.Is(err, backend.ErrClosed) {
				closedErrs.Add(1)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("not every callback was called")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if got := calls[i].Load(); got != 1 {
			t.Fatalf("callback %d called %d times", i, got)
		}
	}
	t.Logf("%d of %d commands failed with ErrClosed", closedErrs.Load(), n)
	if _, err := do(t, b, "GET", "a"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
}

// testEndToEnd checks that a go-redis client through the proxy sees what a cluster
// client sees, for a mix of commands.
func testEndToEnd(t *testing.T, c *redistest.Cluster) {
	ctx := context.Background()
	b := newBackend(t, cluster.Config{Seeds: c.Seeds()})
	p := proxyFor(t, b)
	for i := range 50 {
		z := "z:" + strconv.Itoa(i)
		if err := p.ZAdd(ctx, z, goredis.Z{Score: float64(i), Member: "m"}).Err(); err != nil {
			t.Fatal(err)
		}
		if s, err := c.Client().ZScore(ctx, z, "m").Result(); err != nil || s != float64(i) {
			t.Fatalf("ZSCORE %s = %v, %v", z, s, err)
		}
		if err := p.Expire(ctx, z, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// testLateSeed starts a backend whose only seed does not answer yet: New returns all
// the same, commands fail with ErrUnavailable, and once the seed answers the backend
// finds the cluster by itself.
func testLateSeed(t *testing.T, c *redistest.Cluster) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seed := ln.Addr().String()
	ln.Close() // refuses connections until the forwarder below listens there
	start := time.Now()
	b := newBackend(t, cluster.Config{Seeds: []string{seed}})
	if d := time.Since(start); d > time.Second {
		t.Fatalf("New took %v with a seed that refuses connections", d)
	}
	if _, err := do(t, b, "SET", "late", "1"); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("SET before the seed answers: %v, want ErrUnavailable", err)
	}
	forward(t, seed, c.Seeds()[0])
	poll(t, wait, func() string {
		r, err := do(t, b, "SET", "late", "1")
		if err != nil || r != "+OK\r\n" {
			return fmt.Sprintf("SET = %q, %v", r, err)
		}
		return ""
	})
	t.Logf("found the cluster %v after New; counters %+v", time.Since(start).Round(time.Millisecond), b.Counters())
}

// forward listens on addr and forwards each connection to to, until the test ends.
func forward(t *testing.T, addr, to string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				in.Close()
				out.Close()
			}
			wg.Go(func() { pipe(in, out) })
			wg.Go(func() { pipe(out, in) })
		}
	})
}

// testScriptRedirects has scripts return error replies that look like the cluster's
// redirections, for the slot of their key, naming the node itself or another primary:
// the backend must pass each to its caller, having run the script once.
func testScriptRedirects(t *testing.T, c *redistest.Cluster) {
	b := newBackend(t, cluster.Config{Seeds: c.Seeds()[:1]})
	const key = "{script}redirect"
	slot := int(command.Slot([]byte(key)))
	self := c.PrimaryOf(slot).Addr()
	other := otherPrimary(t, c, slot).Addr()
	for i, fake := range []string{
		fmt.Sprintf("MOVED %d %s", slot, self),
		fmt.Sprintf("MOVED %d %s", slot, other),
		fmt.Sprintf("ASK %d %s", slot, other),
		"TRYAGAIN Multiple keys request during rehashing of slot",
		fmt.Sprintf("MOVED %d %s", (slot+1)%command.SlotCount, other),
	} {
		ctr := fmt.Sprintf("%s:%d", key, i)
		script := "redis.call('incr', KEYS[1]) return redis.error_reply('" + fake + "')"
		r, err := do(t, b, "EVAL", script, "2", ctr, key)
		if err != nil || r != "-"+fake+"\r\n" {
			t.Errorf("script returning %q: %q, %v", fake, r, err)
		}
		if got := mustDo(t, b, "GET", ctr); got != "$1\r\n1\r\n" {
			t.Errorf("script returning %q ran %q times", fake, got)
		}
	}
}
