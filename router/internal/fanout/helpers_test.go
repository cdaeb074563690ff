package fanout_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router/internal/fanout"
)

const wait = 30 * time.Second

// slotLocate places keys as a Redis Cluster of n primaries with even slot ranges: the
// group is the hash slot.
func slotLocate(n int) func([]byte) (int, int) {
	return func(key []byte) (int, int) {
		s := int(command.Slot(key))
		return s, s * n / command.SlotCount
	}
}

// serverLocate places keys as a shard set of n servers: the group is the server.
func serverLocate(n int) func([]byte) (int, int) {
	return func(key []byte) (int, int) {
		s := int(command.Slot(key)) % n
		return s, s
	}
}

// fakeShards is a backend.Sharded of n in-memory shards that run a few commands the way
// Redis does, for the split and merge logic. Send refuses a command whose keys are in
// different groups, as real sharded backends do; a keyless command goes to shard 0.
type fakeShards struct {
	n      int
	locate func([]byte) (int, int)
	async  bool // answer from another goroutine, after a random pause

	mu      sync.Mutex
	data    []map[string]string
	scripts []map[string]bool
	sent    []string           // "shard: command", in the order sent
	fail    map[int]resp.Value // a shard that answers everything with this reply
	down    map[int]error      // a shard whose commands fail with this error
	cursors map[int]resp.Value // a shard whose SCAN answers this cursor
	wg      sync.WaitGroup     // async answers in flight
}

var _ backend.Sharded = (*fakeShards)(nil)

func newFake(t testing.TB, n int, locate func([]byte) (int, int)) *fakeShards {
	f := &fakeShards{n: n, locate: locate, fail: map[int]resp.Value{}, down: map[int]error{}, cursors: map[int]resp.Value{}}
	for range n {
		f.data = append(f.data, map[string]string{})
		f.scripts = append(f.scripts, map[string]bool{})
	}
	t.Cleanup(f.wg.Wait)
	return f
}

func (f *fakeShards) Shards() int                  { return f.n }
func (f *fakeShards) Locate(key []byte) (int, int) { return f.locate(key) }
func (f *fakeShards) Close() error                 { return nil }

func (f *fakeShards) Send(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) {
	shard := 0
	if c, ok := command.Lookup(cmd.Args[0]); ok {
		keys := c.Keys(cmd.Args, nil)
		for i, k := range keys {
			g, s := f.locate(cmd.Args[k])
			g0, _ := f.locate(cmd.Args[keys[0]])
			if g != g0 {
				done(resp.Error("CROSSSLOT", "fake: keys in different groups"), nil)
				return
			}
			if i == 0 {
				shard = s
			}
		}
	}
	f.SendShard(ctx, shard, cmd, done)
}

func (f *fakeShards) SendShard(_ context.Context, i int, cmd resp.Command, done func(resp.Value, error)) {
	args := make([]string, len(cmd.Args))
	for j, a := range cmd.Args {
		args[j] = string(a)
	}
	f.mu.Lock()
	f.sent = append(f.sent, strconv.Itoa(i)+": "+strings.Join(args, " "))
	var v resp.Value
	err, isDown := f.down[i]
	switch {
	case i < 0 || i >= f.n:
		err = backend.ErrUnavailable
	case isDown:
	case f.fail[i].Type != 0:
		v = f.fail[i]
	default:
		v = f.exec(i, args)
	}
	f.mu.Unlock()
	// Replies are handed over raw, as real backends do.
	if err == nil {
		v = resp.Raw(v.AppendTo(nil))
	}
	if !f.async {
		done(v, err)
		return
	}
	f.wg.Add(1)
	time.AfterFunc(time.Duration(len(args)%3)*100*time.Microsecond, func() {
		defer f.wg.Done()
		done(v, err)
	})
}

// takeSent returns the commands sent so far, and forgets them.
func (f *fakeShards) takeSent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sent
	f.sent = nil
	return s
}

// exec runs args on shard i. f.mu is held.
func (f *fakeShards) exec(i int, args []string) resp.Value {
	db := f.data[i]
	count := func(keys []string, del bool) resp.Value {
		n := 0
		for _, k := range keys {
			if _, ok := db[k]; ok {
				n++
				if del {
					delete(db, k)
				}
			}
		}
		return resp.Integer(int64(n))
	}
	sorted := func() []string {
		keys := make([]string, 0, len(db))
		for k := range db {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	switch strings.ToLower(args[0]) {
	case "ping":
		return resp.Pong
	case "sort": // SORT key BY nosort of a list stored as its space-separated elements
		var out []resp.Value
		for _, e := range strings.Fields(db[args[1]]) {
			out = append(out, resp.BulkString(e))
		}
		return resp.Array(out...)
	case "echo":
		return resp.BulkString(args[1])
	case "get":
		if v, ok := db[args[1]]; ok {
			return resp.BulkString(v)
		}
		return resp.NullBulk
	case "set":
		db[args[1]] = args[2]
		return resp.OK
	case "mget":
		var out []resp.Value
		for _, k := range args[1:] {
			if v, ok := db[k]; ok {
				out = append(out, resp.BulkString(v))
			} else {
				out = append(out, resp.NullBulk)
			}
		}
		return resp.Array(out...)
	case "mset":
		for j := 1; j+1 < len(args); j += 2 {
			db[args[j]] = args[j+1]
		}
		return resp.OK
	case "del", "unlink":
		return count(args[1:], true)
	case "exists", "touch":
		return count(args[1:], false)
	case "dbsize":
		return resp.Integer(int64(len(db)))
	case "flushall", "flushdb":
		clear(db)
		return resp.OK
	case "keys":
		var out []resp.Value
		for _, k := range sorted() {
			if ok, _ := path.Match(args[1], k); ok {
				out = append(out, resp.BulkString(k))
			}
		}
		return resp.Array(out...)
	case "randomkey":
		if keys := sorted(); len(keys) > 0 {
			return resp.BulkString(keys[0])
		}
		return resp.NullBulk
	case "scan":
		if c, ok := f.cursors[i]; ok {
			return resp.Array(c, resp.Array())
		}
		// The cursor is an index into the sorted keys; COUNT keys a call.
		cur, _ := strconv.Atoi(args[1])
		n, match := 10, "*"
		for j := 2; j+1 < len(args); j += 2 {
			switch strings.ToLower(args[j]) {
			case "count":
				n, _ = strconv.Atoi(args[j+1])
			case "match":
				match = args[j+1]
			}
		}
		keys := sorted()
		end := min(cur+n, len(keys))
		var out []resp.Value
		for _, k := range keys[min(cur, end):end] {
			if ok, _ := path.Match(match, k); ok {
				out = append(out, resp.BulkString(k))
			}
		}
		next := end
		if end == len(keys) {
			next = 0
		}
		return resp.Array(resp.BulkString(strconv.Itoa(next)), resp.Array(out...))
	case "script":
		switch strings.ToLower(args[1]) {
		case "load":
			sum := sha1.Sum([]byte(args[2]))
			sha := hex.EncodeToString(sum[:])
			f.scripts[i][sha] = true
			return resp.BulkString(sha)
		case "exists":
			var out []resp.Value
			for _, sha := range args[2:] {
				if f.scripts[i][sha] {
					out = append(out, resp.Integer(1))
				} else {
					out = append(out, resp.Integer(0))
				}
			}
			return resp.Array(out...)
		case "flush":
			clear(f.scripts[i])
			return resp.OK
		}
	}
	return resp.Error("ERR", "fake: unknown command '"+args[0]+"'")
}

// terminal stands in for the router's own sending: it sends what reaches it with Send,
// and records it.
type terminal struct {
	b backend.Backend

	mu  sync.Mutex
	got []string
}

func (t *terminal) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	t.mu.Lock()
	t.got = append(t.got, req.Command().String())
	t.mu.Unlock()
	t.b.Send(ctx, req.Command(), proxy.Callback(w))
}

func (t *terminal) take() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.got
	t.got = nil
	return g
}

// lane is a fanout.Lane that lets every command go to the shared connections, unless
// closed; it counts the times it was asked.
type lane struct {
	closed bool

	mu    sync.Mutex
	asked int
}

func (l *lane) Shared(ctx context.Context) (context.Context, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	return ctx, !l.closed
}

// rig is a Fanout over a fake backend, used as the router uses it: asked first about
// each command the model knows, with the command going whole to a recording terminal
// when it declines.
type rig struct {
	fake *fakeShards
	term *terminal
	lane *lane
	h    proxy.Handler
}

func newRig(t testing.TB, fake *fakeShards, maxShards int) *rig {
	t.Helper()
	fo := fanout.New(fake, maxShards)
	r := &rig{fake: fake, term: &terminal{b: fake}, lane: &lane{}}
	r.h = proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if c, ok := command.LookupArgs(req.Args()); ok && fo.Serve(ctx, w, req, c, r.lane) {
			return
		}
		r.term.ServeRESP(ctx, w, req)
	})
	return r
}

// do serves one command and returns its reply, encoded.
func (r *rig) do(t testing.TB, args ...string) string {
	t.Helper()
	var rec proxytest.Recorder
	r.h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand(args...)))
	got := rec.Wait(t, 1)
	if len(got) != 1 {
		t.Fatalf("%q: %d replies", args, len(got))
	}
	return string(got[0].AppendTo(nil))
}
