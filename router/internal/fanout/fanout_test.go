package fanout_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router/internal/fanout"
)

// keysIn returns n keys, the i-th on shard i % shards, in groups of their own as far as
// locate has groups enough.
func keysIn(n, shards int, locate func([]byte) (int, int)) []string {
	var out []string
	groups := map[int]bool{}
	for i := 0; len(out) < n; i++ {
		k := fmt.Sprintf("k%d", i)
		g, s := locate([]byte(k))
		if s != len(out)%shards || groups[g] && i < 10000 {
			continue
		}
		groups[g] = true
		out = append(out, k)
	}
	return out
}

func bulkArray(vals ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(vals))
	for _, v := range vals {
		if v == "<nil>" {
			b.WriteString("$-1\r\n")
			continue
		}
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(v), v)
	}
	return b.String()
}

func TestPassThrough(t *testing.T) {
	t.Parallel()
	r := newRig(t, newFake(t, 3, slotLocate(3)), 1)
	for _, args := range [][]string{
		{"SET", "a", "1"},
		{"GET", "a"},
		{"MGET", "{u}a", "{u}b", "{u}c"},
		{"MSET", "{u}a", "1", "{u}b", "2"},
		{"DEL", "{u}a"},
		{"EXISTS", "x"},
		{"ECHO", "hi"},
		{"PING"},
		{"MSETNX", "{u}a", "1", "{u}b", "2"},
		{"RENAME", "{u}a", "{u}b"},
		{"NOSUCHCOMMAND", "a", "b"},
		{"MSET", "a", "1", "b"}, // malformed: the backend's error
		{"SCRIPT", "KILL"},
		{"EVAL", "return 1", "0"},
	} {
		r.do(t, args...)
		if got := r.term.take(); len(got) != 1 || got[0] != resp.NewCommand(args...).String() {
			t.Errorf("%q: the terminal got %q, want it untouched", args, got)
		}
	}
}

// TestSplitMerge runs multi-key commands over keys in different groups, on a cluster-like
// backend (group = slot) and on a shard set (group = server), and checks the merged
// replies and the parts: one per group.
func TestSplitMerge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		locate func([]byte) (int, int)
	}{{"slots", slotLocate(3)}, {"servers", serverLocate(3)}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t, 3, tc.locate)
			r := newRig(t, fake, 0)
			k := keysIn(3, 3, tc.locate)
			a, b, c := k[0], k[1], k[2]

			if got := r.do(t, "MSET", a, "1", b, "2", c, "3", a, "4"); got != "+OK\r\n" {
				t.Fatalf("MSET: %q", got)
			}
			sent := fake.takeSent()
			if len(sent) != 3 || r.term.take() != nil {
				t.Fatalf("MSET sent %q, want three parts and nothing through the terminal", sent)
			}
			for _, s := range sent {
				if strings.Contains(s, a) && !strings.Contains(s, a+" 1 "+a+" 4") {
					t.Errorf("part %q: the keys of a group must keep their order", s)
				}
			}
			for _, step := range []struct {
				args []string
				want string
			}{
				{[]string{"MGET", c, "missing", a, b, a}, bulkArray("3", "<nil>", "4", "2", "4")},
				{[]string{"EXISTS", a, b, c, "missing", a}, ":4\r\n"},
				{[]string{"TOUCH", a, b}, ":2\r\n"},
				{[]string{"DEL", a, c, "missing"}, ":2\r\n"},
				{[]string{"UNLINK", b, a}, ":1\r\n"},
				{[]string{"MGET", a, b, c}, bulkArray("<nil>", "<nil>", "<nil>")},
			} {
				if got := r.do(t, step.args...); got != step.want {
					t.Errorf("%q = %q, want %q", step.args, got, step.want)
				}
			}
			fake.takeSent()
			// Keys of one group travel together even when others are split off.
			x := a
			for _, y := range k {
				if g, _ := tc.locate([]byte(y)); g != func() int { g, _ := tc.locate([]byte("{g}")); return g }() {
					x = y
				}
			}
			r.do(t, "MGET", "{g}1", "{g}2", x)
			if sent := fake.takeSent(); len(sent) != 2 {
				t.Errorf("MGET over two groups sent %q", sent)
			}
		})
	}
}

// TestPartFailures: any part's error is the command's reply.
func TestPartFailures(t *testing.T) {
	t.Parallel()
	locate := serverLocate(3)
	k := keysIn(3, 3, locate)
	for _, tc := range []struct {
		name  string
		setup func(f *fakeShards)
		args  []string
		want  string
	}{
		{"mget error reply", func(f *fakeShards) { f.fail[1] = resp.Error("LOADING", "loading") }, []string{"MGET", k[0], k[1], k[2]}, "-LOADING loading\r\n"},
		{"mget transport error", func(f *fakeShards) { f.down[2] = backend.ErrUnavailable }, []string{"MGET", k[0], k[1], k[2]}, "-ERR backend unavailable\r\n"},
		{"mset first error", func(f *fakeShards) {
			f.fail[1] = resp.Error("OOM", "no memory")
			f.fail[2] = resp.Error("READONLY", "replica")
		}, []string{"MSET", k[0], "1", k[1], "2", k[2], "3"}, "-OOM no memory\r\n"},
		{"del", func(f *fakeShards) { f.fail[0] = resp.Error("ERR", "boom") }, []string{"DEL", k[0], k[1]}, "-ERR boom\r\n"},
		{"sum of something else", func(f *fakeShards) { f.fail[0] = resp.SimpleString("what") }, []string{"EXISTS", k[0], k[1]}, "-ERR redchain: unexpected reply from a shard\r\n"},
		{"mget not an array", func(f *fakeShards) { f.fail[0] = resp.Integer(1) }, []string{"MGET", k[0], k[1]}, "-ERR redchain: unexpected reply from a shard\r\n"},
		{"keys", func(f *fakeShards) { f.down[1] = backend.ErrConnLost }, []string{"KEYS", "*"}, "-ERR backend connection lost\r\n"},
		{"flushall", func(f *fakeShards) { f.fail[2] = resp.Error("ERR", "no") }, []string{"FLUSHALL"}, "-ERR no\r\n"},
		{"dbsize", func(f *fakeShards) { f.fail[2] = resp.Error("ERR", "no") }, []string{"DBSIZE"}, "-ERR no\r\n"},
		{"scan", func(f *fakeShards) { f.down[0] = backend.ErrTimeout }, []string{"SCAN", "0"}, "-ERR backend timeout\r\n"},
		{"randomkey", func(f *fakeShards) {
			f.down[0], f.down[1], f.down[2] = backend.ErrBusy, backend.ErrBusy, backend.ErrBusy
		}, []string{"RANDOMKEY"}, "-ERR backend busy\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t, 3, locate)
			fake.async = true
			tc.setup(fake)
			r := newRig(t, fake, 0)
			if got := r.do(t, tc.args...); got != tc.want {
				t.Errorf("%q = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}

func TestMaxShards(t *testing.T) {
	t.Parallel()
	locate := serverLocate(3)
	k := keysIn(3, 3, locate)
	fake := newFake(t, 3, locate)
	r := newRig(t, fake, 2)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mget", k[0], k[1], k[2]}, "-ERR redchain: MGET spans 3 shards, more than max-shards 2\r\n"},
		{[]string{"MSET", k[0], "1", k[1], "2", k[2], "3"}, "-ERR redchain: MSET spans 3 shards, more than max-shards 2\r\n"},
		{[]string{"KEYS", "*"}, "-ERR redchain: KEYS spans 3 shards, more than max-shards 2\r\n"},
		{[]string{"DBSIZE"}, "-ERR redchain: DBSIZE spans 3 shards, more than max-shards 2\r\n"},
		{[]string{"FLUSHALL"}, "-ERR redchain: FLUSHALL spans 3 shards, more than max-shards 2\r\n"},
		{[]string{"SCRIPT", "LOAD", "return 1"}, "-ERR redchain: SCRIPT spans 3 shards, more than max-shards 2\r\n"},
		{[]string{"MGET", k[0], k[1]}, bulkArray("<nil>", "<nil>")},
		{[]string{"SCAN", "0"}, "*2\r\n$1\r\n1\r\n*0\r\n"},
		{[]string{"RANDOMKEY"}, "$-1\r\n"},
	} {
		if got := r.do(t, tc.args...); got != tc.want {
			t.Errorf("%q = %q, want %q", tc.args, got, tc.want)
		}
	}
	// Refused commands send nothing; RANDOMKEY tried at most two shards.
	sent := fake.takeSent()
	if n := len(sent); n != 2+1+2 {
		t.Errorf("sent %q: want the two MGET parts, one SCAN, two RANDOMKEY", sent)
	}
}

func TestCrossSlot(t *testing.T) {
	t.Parallel()
	locate := slotLocate(3)
	k := keysIn(2, 3, locate)
	r := newRig(t, newFake(t, 3, locate), 0)
	for _, args := range [][]string{
		{"MSETNX", k[0], "1", k[1], "2"},
		{"RENAME", k[0], k[1]},
		{"SMOVE", k[0], k[1], "m"},
		{"LMOVE", k[0], k[1], "LEFT", "RIGHT"},
		{"SUNIONSTORE", "{x}d", "{x}a", k[0]},
		{"EVAL", "return 1", "2", k[0], k[1]},
		{"FCALL", "f", "2", k[0], k[1]},
		{"BLPOP", k[0], k[1], "0"},
	} {
		if got := r.do(t, args...); got != "-CROSSSLOT Keys in request don't hash to the same slot\r\n" {
			t.Errorf("%q = %q, want -CROSSSLOT", args, got)
		}
	}
	if got := r.term.take(); got != nil {
		t.Errorf("refused commands reached the terminal: %q", got)
	}
}

func TestWholeKeyspace(t *testing.T) {
	t.Parallel()
	locate := serverLocate(3)
	fake := newFake(t, 3, locate)
	r := newRig(t, fake, 0)
	keys := keysIn(9, 3, locate)
	for _, k := range keys {
		r.do(t, "SET", k, "v")
	}
	fake.takeSent()

	got := r.do(t, "KEYS", "*")
	v, _, _ := resp.ParseValue([]byte(got), resp.Limits{})
	var names []string
	for _, e := range v.Elems {
		names = append(names, string(e.Str))
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(names, want) {
		t.Errorf("KEYS * = %q, want %q", names, want)
	}
	if sent := fake.takeSent(); len(sent) != 3 {
		t.Errorf("KEYS sent %q, want one per shard", sent)
	}
	if got := r.do(t, "DBSIZE"); got != ":9\r\n" {
		t.Errorf("DBSIZE = %q", got)
	}

	sha := r.do(t, "SCRIPT", "LOAD", "return 1")
	if !strings.HasPrefix(sha, "$40\r\n") {
		t.Fatalf("SCRIPT LOAD = %q", sha)
	}
	digest := sha[5:45]
	fake.mu.Lock()
	delete(fake.scripts[1], digest) // as if shard 1 had been flushed since
	fake.mu.Unlock()
	r.do(t, "SCRIPT", "LOAD", "return 2")
	sum2 := strings.TrimSpace(r.do(t, "SCRIPT", "LOAD", "return 2")[5:])
	if got := r.do(t, "SCRIPT", "EXISTS", digest, sum2, "nope"); got != "*3\r\n:0\r\n:1\r\n:0\r\n" {
		t.Errorf("SCRIPT EXISTS = %q, want 0 1 0", got)
	}
	if got := r.do(t, "SCRIPT", "FLUSH"); got != "+OK\r\n" {
		t.Errorf("SCRIPT FLUSH = %q", got)
	}
	if got := r.do(t, "SCRIPT", "EXISTS", sum2); got != "*1\r\n:0\r\n" {
		t.Errorf("SCRIPT EXISTS after FLUSH = %q", got)
	}
	fake.mu.Lock()
	fake.fail[2] = resp.BulkString("0000000000000000000000000000000000000000")
	fake.mu.Unlock()
	if got := r.do(t, "SCRIPT", "LOAD", "return 3"); got != "-ERR redchain: shards gave different replies\r\n" {
		t.Errorf("SCRIPT LOAD with a shard that disagrees = %q", got)
	}
	fake.mu.Lock()
	delete(fake.fail, 2)
	fake.mu.Unlock()

	if got := r.do(t, "FLUSHALL", "ASYNC"); got != "+OK\r\n" {
		t.Errorf("FLUSHALL = %q", got)
	}
	if got := r.do(t, "DBSIZE"); got != ":0\r\n" {
		t.Errorf("DBSIZE after FLUSHALL = %q", got)
	}
}

func TestRandomKey(t *testing.T) {
	t.Parallel()
	locate := serverLocate(3)
	fake := newFake(t, 3, locate)
	r := newRig(t, fake, 0)
	if got := r.do(t, "RANDOMKEY"); got != "$-1\r\n" {
		t.Errorf("RANDOMKEY of an empty keyspace = %q", got)
	}
	if sent := fake.takeSent(); len(sent) != 3 {
		t.Errorf("RANDOMKEY of an empty keyspace asked %q, want every shard once", sent)
	}
	k := keysIn(3, 3, locate)[2] // on shard 2 only
	r.do(t, "SET", k, "v")
	for range 20 {
		if got := r.do(t, "RANDOMKEY"); got != fmt.Sprintf("$%d\r\n%s\r\n", len(k), k) {
			t.Fatalf("RANDOMKEY = %q, want %s, the only key", got, k)
		}
	}
}

// scanAll scans to completion with the given options and returns the keys and the
// cursors seen.
func scanAll(t *testing.T, r *rig, opts ...string) (keys []string, cursors []uint64) {
	t.Helper()
	cur := "0"
	for range 1000 {
		got := r.do(t, append([]string{"SCAN", cur}, opts...)...)
		v, _, err := resp.ParseValue([]byte(got), resp.Limits{})
		if err != nil || v.Type != resp.TypeArray || len(v.Elems) != 2 {
			t.Fatalf("SCAN %s = %q", cur, got)
		}
		for _, e := range v.Elems[1].Elems {
			keys = append(keys, string(e.Str))
		}
		cur = string(v.Elems[0].Str)
		n, err := strconv.ParseUint(cur, 10, 64)
		if err != nil {
			t.Fatalf("cursor %q", cur)
		}
		if n == 0 {
			return keys, cursors
		}
		cursors = append(cursors, n)
	}
	t.Fatal("SCAN did not end")
	return nil, nil
}

func TestScan(t *testing.T) {
	t.Parallel()
	locate := serverLocate(3)
	fake := newFake(t, 3, locate)
	r := newRig(t, fake, 0)
	var all []string
	for i := range 40 {
		k := fmt.Sprintf("key:%d", i)
		all = append(all, k)
		r.do(t, "SET", k, "v")
	}
	r.do(t, "SET", "other", "v")
	fake.takeSent()

	keys, cursors := scanAll(t, r, "MATCH", "key:*", "COUNT", "4")
	slices.Sort(keys)
	if !slices.Equal(keys, slices.Sorted(slices.Values(all))) {
		t.Errorf("SCAN MATCH key:* gave %q", keys)
	}
	// Each cursor holds a shard in its low 10 bits, and the shards come in order.
	last := 0
	for _, c := range cursors {
		shard := int(c & 1023)
		if shard < last || shard > 2 {
			t.Errorf("cursor %d names shard %d after shard %d", c, shard, last)
		}
		last = shard
	}
	// The options reach the shards as they are; each shard's own cursor starts at 0.
	sent := fake.takeSent()
	for _, s := range sent {
		if !strings.HasSuffix(s, " MATCH key:* COUNT 4") {
			t.Errorf("sent %q: options lost", s)
		}
	}
	for shard := range 3 {
		if !slices.Contains(sent, fmt.Sprintf("%d: SCAN 0 MATCH key:* COUNT 4", shard)) {
			t.Errorf("shard %d was not scanned from 0: %q", shard, sent)
		}
	}

	for _, tc := range []struct {
		cursor, want string
	}{
		{"abc", "-ERR invalid cursor\r\n"},
		{"-1", "-ERR invalid cursor\r\n"},
		{"3", "-ERR invalid cursor\r\n"},    // shard 3 of 3
		{"1023", "-ERR invalid cursor\r\n"}, // shard 1023
	} {
		if got := r.do(t, "SCAN", tc.cursor); got != tc.want {
			t.Errorf("SCAN %s = %q, want %q", tc.cursor, got, tc.want)
		}
	}
	// A shard's cursor above 54 bits cannot carry a shard number.
	fake.mu.Lock()
	fake.cursors[1] = resp.BulkString(strconv.FormatUint(1<<60, 10))
	fake.mu.Unlock()
	if got := r.do(t, "SCAN", "1"); !strings.HasPrefix(got, "-ERR redchain: a shard's SCAN cursor is too big") {
		t.Errorf("SCAN with a huge shard cursor = %q", got)
	}
	// The shard's cursor comes back shifted, with the shard in the low bits.
	fake.mu.Lock()
	fake.cursors[1] = resp.BulkString("5")
	fake.mu.Unlock()
	if got := r.do(t, "SCAN", "1"); got != fmt.Sprintf("*2\r\n$4\r\n%d\r\n*0\r\n", 5<<10|1) {
		t.Errorf("SCAN 1 = %q, want cursor %d", got, 5<<10|1)
	}
	if sent := fake.takeSent(); sent[len(sent)-1] != "1: SCAN 0" {
		t.Errorf("SCAN 1 sent %q, want SCAN 0 to shard 1", sent)
	}
	r.do(t, "SCAN", strconv.Itoa(7<<10|2), "COUNT", "1")
	if sent := fake.takeSent(); len(sent) != 1 || sent[0] != "2: SCAN 7 COUNT 1" {
		t.Errorf("SCAN %d sent %q, want SCAN 7 to shard 2", 7<<10|2, sent)
	}
}

// TestConcurrentAsync sends many split commands at once through a backend that answers
// from other goroutines in any order: every merge must be right (and the race detector
// quiet).
func TestConcurrentAsync(t *testing.T) {
	t.Parallel()
	locate := slotLocate(3)
	fake := newFake(t, 3, locate)
	fake.async = true
	r := newRig(t, fake, 0)
	keys := keysIn(12, 3, locate)
	var args []string
	for _, k := range keys {
		args = append(args, k, "v"+k)
	}
	if got := r.do(t, append([]string{"MSET"}, args...)...); got != "+OK\r\n" {
		t.Fatal(got)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := keys[i%12], keys[(i*5+1)%12]
			want := bulkArray("v"+a, "v"+b, "<nil>")
			if got := r.do(t, "MGET", a, b, "missing"); got != want {
				errs <- fmt.Sprintf("MGET %s %s = %q, want %q", a, b, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestLaneClosed: while the router's lane is closed to the fan-out (the client's
// commands must go the router's way now), split and whole-keyspace commands go on whole;
// refusals that send nothing stay refusals.
func TestLaneClosed(t *testing.T) {
	t.Parallel()
	locate := serverLocate(3)
	fake := newFake(t, 3, locate)
	r := newRig(t, fake, 2)
	r.lane.closed = true
	k := keysIn(3, 3, locate)
	for _, args := range [][]string{
		{"MGET", k[0], k[1]},
		{"DEL", k[0], k[1], k[2]},
		{"KEYS", "*"},
		{"DBSIZE"},
		{"INFO"},
		{"PUBSUB", "NUMPAT"},
		{"SCAN", "0"},
		{"RANDOMKEY"},
	} {
		r.do(t, args...)
		if got := r.term.take(); len(got) != 1 || got[0] != resp.NewCommand(args...).String() {
			t.Errorf("%q with the lane closed: the terminal got %q, want it whole", args, got)
		}
	}
	if r.lane.asked != 8 {
		t.Errorf("the lane was asked %d times, want once per command", r.lane.asked)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"MSETNX", k[0], "1", k[1], "2"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
		{[]string{"SCAN", "abc"}, "-ERR invalid cursor\r\n"},
	} {
		if got := r.do(t, tc.args...); got != tc.want {
			t.Errorf("%q with the lane closed = %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := r.term.take(); got != nil {
		t.Errorf("refused commands reached the terminal: %q", got)
	}
}

// TestPassThroughAllocs: a command that needs no splitting costs no allocation.
func TestPassThroughAllocs(t *testing.T) {
	fo := fanout.New(newFake(t, 3, slotLocate(3)), 2)
	var w nopWriter
	var l lane
	for _, args := range [][]string{
		{"GET", "a"},
		{"SET", "a", "1"},
		{"MGET", "{u}a", "{u}b", "{u}c"},
		{"RENAME", "{u}a", "{u}b"},
		{"PING"},
	} {
		req := proxy.NewRequest(resp.NewCommand(args...))
		c, _ := command.LookupArgs(req.Args())
		ctx := context.Background()
		if fo.Serve(ctx, w, req, c, &l) {
			t.Fatalf("%q: Serve took it, want it declined", args)
		}
		if n := testing.AllocsPerRun(200, func() { fo.Serve(ctx, w, req, c, &l) }); n != 0 {
			t.Errorf("%q: %v allocations", args, n)
		}
	}
}

type nopWriter struct{}

func (nopWriter) WriteReply(resp.Value) bool { return true }

// TestSortMaxShards: SORT's weights are read where they live, and MaxShards bounds the
// shards those reads touch as it bounds any command's.
func TestSortMaxShards(t *testing.T) {
	t.Parallel()
	locate := serverLocate(3)
	// One element per shard, each weight on its shard: weights 3, 2, 1 in list order.
	var elems []string
	shards := map[int]bool{}
	for i := 0; len(elems) < 3; i++ {
		e := fmt.Sprint("e", i)
		if _, s := locate([]byte("w_" + e)); !shards[s] {
			shards[s] = true
			elems = append(elems, e)
		}
	}
	for _, max := range []int{0, 2} {
		fake := newFake(t, 3, locate)
		r := newRig(t, fake, max)
		_, ls := locate([]byte("l"))
		fake.data[ls]["l"] = strings.Join(elems, " ")
		for i, e := range elems {
			_, s := locate([]byte("w_" + e))
			fake.data[s]["w_"+e] = fmt.Sprint(3 - i)
		}
		got := r.do(t, "SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*")
		b := resp.BulkString
		want := string(resp.Array(b(elems[2]), b("1"), b(elems[1]), b("2"), b(elems[0]), b("3")).AppendTo(nil))
		if max > 0 {
			want = "-ERR redchain: SORT spans 3 shards, more than max-shards 2\r\n"
		}
		if got != want {
			t.Errorf("max-shards %d: %q, want %q", max, got, want)
		}
	}
}
