package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// fakeNode is a node backend that answers from a script, and records what it got.
type fakeNode struct {
	addr string
	mu   sync.Mutex
	got  []string // commands received, space-joined
	// answer returns the reply to a command; nil: +OK.
	answer func(args [][]byte) (resp.Value, error)
}

func (f *fakeNode) Send(_ context.Context, cmd resp.Command, done func(resp.Value, error)) {
	var sb strings.Builder
	for i, a := range cmd.Args {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.Write(a)
	}
	f.mu.Lock()
	f.got = append(f.got, sb.String())
	answer := f.answer
	f.mu.Unlock()
	if answer == nil {
		done(resp.Raw([]byte("+OK\r\n")), nil)
		return
	}
	done(answer(cmd.Args))
}

func (f *fakeNode) Close() error { return nil }

func (f *fakeNode) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// fakeCluster is a backend over fake nodes: "p0" serves slots 0-8191 with replica
// "r0", "p1" serves 8192-16383 with replica "r1"; "x" is a primary without slots.
// There is no refresher: tests call redispatch themselves.
type fakeCluster struct {
	*Backend
	nodes map[string]*fakeNode
}

func newFake(t testing.TB, cfg Config) *fakeCluster {
	t.Helper()
	cfg.Seeds = []string{"127.0.0.1:1"}
	c, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	fc := &fakeCluster{Backend: newBackend(c), nodes: map[string]*fakeNode{}}
	names := map[string]string{"p0": "127.0.0.1:7000", "p1": "127.0.0.1:7001", "r0": "127.0.0.1:7100", "r1": "127.0.0.1:7101", "x": "127.0.0.1:7200"}
	for name, addr := range names {
		f := &fakeNode{addr: addr}
		fc.nodes[name] = f
		fc.Backend.nodes[addr] = &node{addr: addr, announced: addr, b: f}
	}
	descs := []shardDesc{
		{ranges: [][2]int{{0, 8191}}, primary: nodeDesc{addr: names["p0"]}, replicas: []nodeDesc{{addr: names["r0"], healthy: true}}},
		{ranges: [][2]int{{8192, 16383}}, primary: nodeDesc{addr: names["p1"]}, replicas: []nodeDesc{{addr: names["r1"], healthy: true}}},
		{primary: nodeDesc{addr: names["x"]}},
	}
	topo, err := build(descs, func(a string) *node { return fc.Backend.nodes[a] })
	if err != nil {
		t.Fatal(err)
	}
	fc.topo.Store(topo)
	t.Cleanup(func() { fc.Close() })
	return fc
}

// do sends a command and returns its reply as RESP text, or its error; the callback
// must have run before Send returns (fake nodes answer at once) or after redispatch.
func (fc *fakeCluster) do(t testing.TB, args ...string) (string, error) {
	t.Helper()
	var (
		reply string
		err   error
		calls int
	)
	fc.Send(context.Background(), resp.NewCommand(args...), func(v resp.Value, e error) {
		calls++
		reply, err = string(v.AppendTo(nil)), e
	})
	for range 10 {
		if calls > 0 {
			break
		}
		fc.redispatch()
	}
	if calls != 1 {
		t.Fatalf("%q: callback called %d times", args, calls)
	}
	return reply, err
}

// keyOf returns a key of slot.
func keyOf(slot int) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("k%d", i)
		if int(command.Slot([]byte(k))) == slot {
			return k
		}
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	fc := newFake(t, Config{})
	lo, hi := keyOf(10), keyOf(10000)
	tests := []struct {
		name  string
		args  []string
		reply string
		node  string // the node that must get it, "" for none
	}{
		{"low slot", []string{"GET", lo}, "+OK\r\n", "p0"},
		{"high slot", []string{"get", hi}, "+OK\r\n", "p1"},
		{"hash tag", []string{"MSET", "{" + hi + "}a", "1", "{" + hi + "}b", "2"}, "+OK\r\n", "p1"},
		{"cross slot", []string{"MSET", lo, "1", hi, "2"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n", ""},
		{"keyless", []string{"PING"}, "+OK\r\n", "p0"},
		{"unknown", []string{"FOO.BAR", hi}, "+OK\r\n", "p0"},
		{"subcommand with key", []string{"OBJECT", "ENCODING", hi}, "+OK\r\n", "p1"},
		{"empty", nil, "-ERR empty command\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := map[string]int{}
			for n, f := range fc.nodes {
				before[n] = len(f.received())
			}
			r, err := fc.do(t, tt.args...)
			if err != nil || r != tt.reply {
				t.Fatalf("reply %q, %v; want %q", r, err, tt.reply)
			}
			for n, f := range fc.nodes {
				got := len(f.received()) - before[n]
				want := 0
				if n == tt.node {
					want = 1
				}
				if got != want {
					t.Errorf("node %s got %d commands, want %d", n, got, want)
				}
			}
		})
	}
	// Locate and Shards; the slotless primary is no shard.
	if fc.Shards() != 2 {
		t.Fatalf("Shards = %d", fc.Shards())
	}
	if g, s := fc.Locate([]byte(hi)); g != 10000 || s != 1 {
		t.Fatalf("Locate = %d, %d", g, s)
	}
}

func TestMovedAndAsk(t *testing.T) {
	t.Parallel()
	fc := newFake(t, Config{})
	p0, p1 := fc.nodes["p0"], fc.nodes["p1"]
	k := keyOf(42)

	// -MOVED to p1: followed, and slot 42 is p1's from now on.
	p0.answer = func(args [][]byte) (resp.Value, error) {
		return resp.Raw([]byte("-MOVED 42 127.0.0.1:7001\r\n")), nil
	}
	if r, err := fc.do(t, "SET", k, "v"); r != "+OK\r\n" || err != nil {
		t.Fatalf("SET = %q, %v", r, err)
	}
	if got := fc.NodeFor(42); got != "127.0.0.1:7001" {
		t.Fatalf("NodeFor(42) = %s after -MOVED", got)
	}
	if _, s := fc.Locate([]byte(k)); s != 1 {
		t.Fatalf("Locate shard %d after -MOVED", s)
	}
	fc.do(t, "GET", k)
	if got := p1.received(); strings.Join(got, "|") != "SET "+k+" v|GET "+k {
		t.Fatalf("p1 got %q", got)
	}
	if c := fc.Counters(); c.Moved != 1 {
		t.Fatalf("counters %+v", c)
	}
	select {
	case <-fc.kick:
	default:
		t.Fatal("no refresh asked for after -MOVED")
	}

	// -ASK from p1 for slot 43 to x: ASKING then the command on x, no map update.
	k43 := keyOf(43)
	p0.answer = func(args [][]byte) (resp.Value, error) {
		return resp.Error("ASK", "43 127.0.0.1:7200"), nil
	}
	if r, err := fc.do(t, "GET", k43); r != "+OK\r\n" || err != nil {
		t.Fatalf("GET = %q, %v", r, err)
	}
	if got := fc.nodes["x"].received(); strings.Join(got, "|") != "ASKING|GET "+k43 {
		t.Fatalf("x got %q", got)
	}
	if got := fc.NodeFor(43); got != "127.0.0.1:7000" {
		t.Fatalf("NodeFor(43) = %s after -ASK, want no change", got)
	}

	// Redirections in a loop stop after MaxRedirects with a fixed reply: a client never
	// sees a redirection, which names a node.
	p1.answer = func(args [][]byte) (resp.Value, error) {
		return resp.Error("MOVED", "44 127.0.0.1:7000"), nil
	}
	p0.answer = func(args [][]byte) (resp.Value, error) {
		return resp.Error("MOVED", "44 127.0.0.1:7001"), nil
	}
	r, err := fc.do(t, "GET", keyOf(44))
	if err != nil || r != "-TRYAGAIN backend slot moving\r\n" {
		t.Fatalf("endless redirections: %q, %v", r, err)
	}

	// A redirection to an unknown node waits for a refresh, then routes again.
	p0.answer = nil
	p1.answer = func(args [][]byte) (resp.Value, error) {
		return resp.Error("MOVED", "45 10.9.9.9:7000"), nil
	}
	fc.topo.Store(fc.topo.Load().withSlot(45, 1)) // slot 45 on p1, which sends it away
	parked := fc.Counters().Parked
	var reply string
	fc.Send(context.Background(), resp.NewCommand("GET", keyOf(45)), func(v resp.Value, err error) {
		reply = string(v.AppendTo(nil))
	})
	if reply != "" || fc.Counters().Parked != parked+1 {
		t.Fatalf("redirection to an unknown node: reply %q, counters %+v", reply, fc.Counters())
	}
	fc.mu.Lock()
	wanted := fc.wanted["10.9.9.9:7000"]
	fc.mu.Unlock()
	if !wanted {
		t.Fatal("the unknown node was not asked for")
	}
	fc.topo.Store(fc.topo.Load().withSlot(45, 0)) // the refresh: slot 45 is p0's
	fc.redispatch()
	if reply != "+OK\r\n" {
		t.Fatalf("after the refresh: %q", reply)
	}
}

func TestTryAgain(t *testing.T) {
	t.Parallel()
	fc := newFake(t, Config{})
	n := 0
	fc.nodes["p0"].answer = func(args [][]byte) (resp.Value, error) {
		n++
		if n < 3 {
			return resp.Error("TRYAGAIN", "Multiple keys request during rehashing of slot"), nil
		}
		return resp.Raw([]byte(":2\r\n")), nil
	}
	tag := "{" + keyOf(5) + "}"
	if r, err := fc.do(t, "EXISTS", tag+"1", tag+"2"); r != ":2\r\n" || err != nil {
		t.Fatalf("EXISTS = %q, %v", r, err)
	}
	if c := fc.Counters(); c.TryAgain != 2 || c.Parked != 2 {
		t.Fatalf("counters %+v", c)
	}
	// Given up after maxTryAgain retries.
	n = -100
	r, _ := fc.do(t, "EXISTS", tag+"1", tag+"2")
	if !strings.HasPrefix(r, "-TRYAGAIN") {
		t.Fatalf("EXISTS = %q", r)
	}
}

func TestReadFromReplica(t *testing.T) {
	t.Parallel()
	fc := newFake(t, Config{ReadFrom: Replica})
	k := keyOf(7)
	fc.do(t, "GET", k)
	fc.do(t, "SET", k, "v")
	if got := fc.nodes["r0"].received(); strings.Join(got, "|") != "GET "+k {
		t.Fatalf("replica got %q", got)
	}
	if got := fc.nodes["p0"].received(); strings.Join(got, "|") != "SET "+k+" v" {
		t.Fatalf("primary got %q", got)
	}
	// A replica that is down, or loading: the primary.
	fc.nodes["r0"].answer = func([][]byte) (resp.Value, error) {
		return resp.Value{}, fmt.Errorf("x: %w", backend.ErrUnavailable)
	}
	if r, err := fc.do(t, "GET", k); r != "+OK\r\n" || err != nil {
		t.Fatalf("GET with the replica down = %q, %v", r, err)
	}
	fc.nodes["r0"].answer = func([][]byte) (resp.Value, error) {
		return resp.Error("LOADING", "Redis is loading the dataset in memory"), nil
	}
	if r, err := fc.do(t, "GET", k); r != "+OK\r\n" || err != nil {
		t.Fatalf("GET with the replica loading = %q, %v", r, err)
	}
	if got := len(fc.nodes["p0"].received()); got != 3 {
		t.Fatalf("primary got %d commands, want 3", got)
	}
}

func TestNotAllowedRedirect(t *testing.T) {
	t.Parallel()
	fc := newFake(t, Config{Allow: []string{"127.0.0.1:*"}})
	fc.nodes["p0"].answer = func([][]byte) (resp.Value, error) {
		return resp.Error("MOVED", "9 10.0.0.5:7000"), nil
	}
	_, err := fc.do(t, "GET", keyOf(9))
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "10.0.0.5:7000") {
		t.Fatalf("redirection to a refused node: %v; want ErrUnavailable naming the node, for the log", err)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	fc := newFake(t, Config{})
	// A parked command gets ErrClosed at Close.
	fc.nodes["p0"].answer = func([][]byte) (resp.Value, error) {
		return resp.Error("TRYAGAIN", "Multiple keys request during rehashing of slot"), nil
	}
	var got error
	k := keyOf(1)
	fc.Send(context.Background(), resp.NewCommand("MGET", k, k), func(_ resp.Value, err error) { got = err })
	fc.Close()
	if !errors.Is(got, backend.ErrClosed) {
		t.Fatalf("parked command at Close: %v", got)
	}
	if _, err := fc.do(t, "GET", "a"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestNoTopology(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b, err := New(Config{Seeds: []string{"127.0.0.1:1", "127.0.0.1:2"}, Redis: redis.Config{Conns: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("New took %v with refusing seeds", d)
	}
	var got error
	b.Send(context.Background(), resp.NewCommand("GET", "a"), func(_ resp.Value, err error) { got = err })
	if !errors.Is(got, backend.ErrUnavailable) || !strings.Contains(got.Error(), "127.0.0.1:1,127.0.0.1:2") {
		t.Fatalf("Send without a slot map: %v", got)
	}
	if b.Shards() != 1 {
		t.Fatalf("Shards = %d", b.Shards())
	}
	if g, s := b.Locate([]byte("a")); g != int(command.Slot([]byte("a"))) || s != 0 {
		t.Fatalf("Locate = %d, %d", g, s)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	seeds := []string{"127.0.0.1:7000"}
	tests := []struct {
		name string
		cfg  Config
		err  string
	}{
		{"ok", Config{Seeds: seeds}, ""},
		{"no seeds", Config{}, "Seeds is empty"},
		{"bad seed", Config{Seeds: []string{"nope"}}, "Seeds[0]"},
		{"db", Config{Seeds: seeds, Redis: redis.Config{DB: 1}}, "DB must be 0"},
		{"addr", Config{Seeds: seeds, Redis: redis.Config{Addr: "a:1"}}, "Addr must be empty"},
		{"backoff", Config{Seeds: seeds, Redis: redis.Config{MinBackoff: time.Hour}}, "MinBackoff"},
		{"negative conns", Config{Seeds: seeds, Redis: redis.Config{Conns: -1}}, "Conns is negative"},
		{"bad map", Config{Seeds: seeds, AddrMap: map[string]string{"a:1": "b"}}, "AddrMap"},
		{"bad allow", Config{Seeds: seeds, Allow: []string{"host"}}, "Allow[0]"},
		{"read from", Config{Seeds: seeds, ReadFrom: 7}, "ReadFrom"},
		{"negative interval", Config{Seeds: seeds, RefreshInterval: -1}, "RefreshInterval is negative"},
		{"min above interval", Config{Seeds: seeds, RefreshInterval: time.Second, MinRefreshInterval: time.Minute}, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.withDefaults()
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
	c, _ := Config{Seeds: seeds, Allow: []string{"10.0.0.1:7000", "10.0.0.2:*"}, ReadFrom: Replica,
		AddrMap: map[string]string{"10.9.0.1:7000": "10.0.0.1:7000"}}.withDefaults()
	for addr, want := range map[string]bool{"10.0.0.1:7000": true, "10.0.0.1:7001": false, "10.0.0.2:1": true, "10.0.0.3:7000": false} {
		if got := c.allowed(addr); got != want {
			t.Errorf("allowed(%s) = %v", addr, got)
		}
	}
	if c.dialAddr("10.9.0.1:7000") != "10.0.0.1:7000" || c.dialAddr("10.9.0.1:7001") != "10.9.0.1:7001" {
		t.Error("dialAddr")
	}
	if !c.Redis.ReadOnly || c.MaxRedirects != DefaultMaxRedirects || c.RefreshInterval != DefaultRefreshInterval {
		t.Errorf("defaults: %+v", c.Config)
	}
	for _, s := range []string{"primary", "REPLICA"} {
		if r, err := ParseReadFrom(s); err != nil || !strings.EqualFold(r.String(), s) {
			t.Errorf("ParseReadFrom(%q) = %v, %v", s, r, err)
		}
	}
	if _, err := ParseReadFrom("any"); err == nil {
		t.Error("ParseReadFrom(any)")
	}
}

// A CLUSTER SHARDS reply of Redis 7.0 and a CLUSTER SLOTS reply, for the same cluster.
const (
	shardsReply = "*2\r\n" +
		"*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:5460\r\n:10923\r\n:10925\r\n$5\r\nnodes\r\n*2\r\n" +
		"*14\r\n$2\r\nid\r\n$3\r\naaa\r\n$4\r\nport\r\n:7000\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:1\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
		"*14\r\n$2\r\nid\r\n$3\r\nbbb\r\n$4\r\nport\r\n:7003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:1\r\n$6\r\nhealth\r\n$6\r\nfailed\r\n" +
		"*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*1\r\n" +
		"*14\r\n$2\r\nid\r\n$3\r\nccc\r\n$4\r\nport\r\n:7001\r\n$2\r\nip\r\n$0\r\n\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:1\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
	slotsReply = "*3\r\n" +
		"*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$3\r\naaa\r\n*4\r\n$9\r\n127.0.0.1\r\n:7003\r\n$3\r\nbbb\r\n*0\r\n" +
		"*3\r\n:5461\r\n:10922\r\n*3\r\n$0\r\n\r\n:7001\r\n$3\r\nccc\r\n" +
		"*3\r\n:10923\r\n:10925\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$3\r\naaa\r\n"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		reply string
		parse func(resp.Value, string) ([]shardDesc, error)
	}{
		{"shards", shardsReply, parseShards},
		{"slots", slotsReply, parseSlots},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, _, err := resp.ParseValue([]byte(tt.reply), resp.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			descs, err := tt.parse(v, "10.1.1.1")
			if err != nil {
				t.Fatal(err)
			}
			nodes := map[string]*node{}
			topo, err := build(descs, func(a string) *node {
				if nodes[a] == nil {
					nodes[a] = &node{addr: a, b: &fakeNode{}}
				}
				return nodes[a]
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(topo.shards) != 2 || topo.covered() != 5461+5462+3 {
				t.Fatalf("%d shards, %d slots", len(topo.shards), topo.covered())
			}
			for slot, want := range map[int]string{0: "127.0.0.1:7000", 5461: "10.1.1.1:7001", 10922: "10.1.1.1:7001", 10924: "127.0.0.1:7000", 10926: ""} {
				got := ""
				if i := topo.slots[slot]; i != 0 {
					got = topo.shards[i-1].primary.addr
				}
				if got != want {
					t.Errorf("slot %d: %q, want %q", slot, got, want)
				}
			}
			if _, ok := topo.byAddr["127.0.0.1:7003"]; !ok {
				t.Error("the replica is not known")
			}
			// SHARDS says the replica failed: no reads for it. SLOTS leaves failed
			// replicas out itself.
			if tt.name == "shards" && len(topo.shards[0].replicas) != 0 {
				t.Error("a failed replica serves reads")
			}
		})
	}
}

// BenchmarkSendRouting measures the cost of routing one command (its keys, its slot,
// the copy kept for redirections, the callback) over node backends that answer at once:
// no network.
func BenchmarkSendRouting(b *testing.B) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"GET", []string{"GET", "user:1000"}},
		{"SET-100B", []string{"SET", "user:1000", strings.Repeat("x", 100)}},
		{"MGET-tag-10", []string{"MGET", "{u}1", "{u}2", "{u}3", "{u}4", "{u}5", "{u}6", "{u}7", "{u}8", "{u}9", "{u}10"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fc := newFake(b, Config{})
			ok := resp.Raw([]byte("+OK\r\n"))
			for _, f := range fc.nodes {
				f.answer = nil
				fc.Backend.nodes[f.addr] = &node{addr: f.addr, b: backend.Func(func(_ context.Context, _ resp.Command, done func(resp.Value, error)) {
					done(ok, nil)
				})}
			}
			// Rebuild the topology over the allocation-free nodes.
			descs := []shardDesc{
				{ranges: [][2]int{{0, 8191}}, primary: nodeDesc{addr: "127.0.0.1:7000"}},
				{ranges: [][2]int{{8192, 16383}}, primary: nodeDesc{addr: "127.0.0.1:7001"}},
			}
			topo, _ := build(descs, func(a string) *node { return fc.Backend.nodes[a] })
			fc.topo.Store(topo)
			cmd := resp.NewCommand(tc.args...)
			ctx := backend.WithSession(context.Background(), 1)
			n := 0
			done := func(resp.Value, error) { n++ }
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				fc.Send(ctx, cmd, done)
			}
			if n != b.N {
				b.Fatalf("%d replies for %d commands", n, b.N)
			}
		})
	}
}

// BenchmarkLocate measures Locate, which fan-out calls once per key.
func BenchmarkLocate(b *testing.B) {
	fc := newFake(b, Config{})
	key := []byte("user:1000")
	b.ReportAllocs()
	for range b.N {
		fc.Locate(key)
	}
}

// TestRetire checks that a node that leaves the topology keeps its backend for
// retireGrace, is closed after, and gets it back if it returns meanwhile.
func TestRetire(t *testing.T) {
	t.Parallel()
	c, err := Config{Seeds: []string{"127.0.0.1:1"}, Redis: redis.Config{Conns: 1}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b := newBackend(c) // no refresher: the test drives apply and retire
	defer b.Close()
	// Ports that refuse connections: the node backends exist, reconnecting.
	a, z := "127.0.0.1:2", "127.0.0.1:3"
	both := []shardDesc{
		{ranges: [][2]int{{0, 8191}}, primary: nodeDesc{addr: a}},
		{ranges: [][2]int{{8192, 16383}}, primary: nodeDesc{addr: z}},
	}
	onlyA := []shardDesc{{ranges: [][2]int{{0, 16383}}, primary: nodeDesc{addr: a}}}
	b.apply(both, "test")
	nz := b.nodes[z]
	if nz == nil || nz.b == nil || b.Shards() != 2 {
		t.Fatalf("after the first map: node %+v, %d shards", nz, b.Shards())
	}
	// z leaves, comes back before the grace period ends: same backend.
	b.apply(onlyA, "test")
	if _, ok := b.retired[nz]; !ok || b.nodes[z] != nil || b.Shards() != 1 {
		t.Fatalf("z did not retire: %v", b.retired)
	}
	b.apply(both, "test")
	if b.nodes[z] != nz || len(b.retired) != 0 {
		t.Fatal("z did not get its backend back")
	}
	// z leaves for good: closed after the grace period only.
	b.apply(onlyA, "test")
	b.retire(time.Now())
	if len(b.retired) != 1 {
		t.Fatal("z was closed before the grace period")
	}
	b.retire(time.Now().Add(retireGrace))
	if len(b.retired) != 0 {
		t.Fatal("z was not closed after the grace period")
	}
	var got error
	nz.b.Send(context.Background(), resp.NewCommand("PING"), func(_ resp.Value, err error) { got = err })
	if !errors.Is(got, backend.ErrClosed) {
		t.Fatalf("z's backend after retirement: %v, want ErrClosed", got)
	}
}
