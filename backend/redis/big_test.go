package redis_test

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

// bigValue returns n bytes of a pattern that seed shifts, so that two big values differ
// at every offset and a buffer overwritten by another reply shows.
func bigValue(n, seed int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = 'a' + byte((i+seed)%26)
	}
	return v
}

// bulk returns the RESP encoding of v as a bulk string.
func bulk(v []byte) []byte { return resp.Bulk(v).AppendTo(nil) }

// ownedCmd returns the command of args as the proxy hands over a big one: its exact
// RESP array in Raw, Args pointing into it, and Owned.
func ownedCmd(t testing.TB, args ...[]byte) resp.Command {
	t.Helper()
	raw := resp.Command{Args: args}.AppendTo(nil)
	var p resp.CommandParser
	cmd, n, err := p.Parse(raw)
	if n != len(raw) || err != nil {
		t.Fatalf("parse own command: %d of %d bytes, %v", n, len(raw), err)
	}
	cmd.Owned = true
	return cmd
}

// sender sends one command with its callback: a backend's Send or a dedicated
// connection's.
type sender func(cmd resp.Command, done func(resp.Value, error))

// result is one command's reply: an Owned reply as it was handed over, any other a copy.
type result struct {
	v   resp.Value
	err error
}

// sendAll sends cmds back to back, pipelined, and returns their results in order.
func sendAll(t testing.TB, send sender, cmds ...resp.Command) []result {
	t.Helper()
	res := make([]result, len(cmds))
	var wg sync.WaitGroup
	wg.Add(len(cmds))
	for i, cmd := range cmds {
		send(cmd, func(v resp.Value, err error) {
			if !v.Owned {
				v = v.Clone() // borrowed: valid only during the callback
			}
			res[i] = result{v, err}
			wg.Done()
		})
	}
	waitGroup(t, &wg, "replies")
	return res
}

// check compares a result with the reply want and whether it should be Owned.
func check(t testing.TB, what string, r result, want []byte, owned bool) {
	t.Helper()
	switch got := r.v.AppendTo(nil); {
	case r.err != nil:
		t.Errorf("%s: %v", what, r.err)
	case !bytes.Equal(got, want):
		t.Errorf("%s: %d bytes %.40q..., want %d bytes %.40q...", what, len(got), got, len(want), want)
	case r.v.Owned != owned:
		t.Errorf("%s: Owned %v, want %v", what, r.v.Owned, owned)
	}
}

// TestBigValues sends big values as owned commands and reads them back, pipelined with
// small commands, over a shared and a dedicated connection, with goroutines of their own
// and on an event loop: the big ones must go out and come back whole, in order, and a
// big reply is handed over (Owned) and stays intact while more replies come.
func TestBigValues(t *testing.T) {
	t.Parallel()
	lctx := loopCtx(t)
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr()})
	for _, mode := range []struct {
		name string
		ctx  context.Context
		ded  bool
	}{
		{"goroutines", session(1), false},
		{"loop", lctx, false},
		{"dedicated goroutines", session(2), true},
		{"dedicated loop", lctx, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			send := func(cmd resp.Command, done func(resp.Value, error)) { b.Send(mode.ctx, cmd, done) }
			if mode.ded {
				dc := b.Dedicate(mode.ctx, nil, func(resp.Value) {})
				defer dc.Close()
				send = func(cmd resp.Command, done func(resp.Value, error)) { dc.Send(cmd, 0, done) }
			}
			bigRoundTrips(t, send, mode.name)
		})
	}
}

// bigRoundTrips runs the checks of TestBigValues with keys under prefix.
func bigRoundTrips(t *testing.T, send sender, prefix string) {
	k := func(name string) []byte { return []byte(prefix + ":" + name) }
	big1, big2 := bigValue(3<<20+7, 0), bigValue(2<<20+1, 5)
	cmd := func(args ...string) resp.Command { return resp.NewCommand(args...) }
	res := sendAll(t, send,
		cmd("SET", string(k("small")), "1"),
		ownedCmd(t, []byte("SET"), k("big1"), big1),
		cmd("INCR", string(k("small"))),
		ownedCmd(t, []byte("SET"), k("big2"), big2),
		cmd("GET", string(k("big1"))),
		cmd("GET", string(k("small"))),
	)
	check(t, "SET small", res[0], []byte("+OK\r\n"), false)
	check(t, "SET big1", res[1], []byte("+OK\r\n"), false)
	check(t, "INCR small", res[2], []byte(":2\r\n"), false)
	check(t, "SET big2", res[3], []byte("+OK\r\n"), false)
	check(t, "GET big1", res[4], bulk(big1), true)
	check(t, "GET small", res[5], []byte("$1\r\n2\r\n"), false)

	// More replies, small and big, on the same connection: the first big reply's bytes
	// are its taker's and must not change.
	first := res[4]
	mget := append([]byte("*3\r\n"), bulk(big2)...)
	mget = append(append(mget, "$1\r\n2\r\n"...), bulk(big1)...)
	res = sendAll(t, send,
		cmd("GET", string(k("big2"))),
		cmd("PING"),
		cmd("MGET", string(k("big2")), string(k("small")), string(k("big1"))),
		cmd("GET", string(k("big2"))),
		cmd("INCR", string(k("small"))),
	)
	check(t, "GET big2", res[0], bulk(big2), true)
	check(t, "PING", res[1], []byte("+PONG\r\n"), false)
	check(t, "MGET", res[2], mget, true)
	check(t, "GET big2 again", res[3], bulk(big2), true)
	check(t, "INCR small again", res[4], []byte(":3\r\n"), false)
	check(t, "first GET big1, after more replies", first, bulk(big1), true)
}

// TestBigValueAllocs checks that a big value goes to the server and comes back with no
// copy on the way: an owned SET allocates next to nothing, and a GET one buffer of
// about the reply's size, with goroutines and on an event loop. It runs alone (not
// parallel), so that the allocations counted are the backend's, but for one thing: on a
// loop, the wire copies what the socket does not take at once, a window at a time as
// the loop paces it (see proxy.Loop.Attach), up to the size of the value in all, which
// the garbage collector takes back as it goes.
func TestBigValueAllocs(t *testing.T) {
	const size = 16 << 20
	lctx := loopCtx(t)
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr(), WarmIdle: -1})
	for _, mode := range []struct {
		name   string
		ctx    context.Context
		setMax int // what a SET may allocate
	}{{"goroutines", session(1), size / 10}, {"loop", lctx, size * 11 / 10}} {
		t.Run(mode.name, func(t *testing.T) {
			eventually(t, b, mode.ctx)
			key := []byte(mode.name)
			value := bigValue(size, 1)
			set := ownedCmd(t, []byte("SET"), key, value)
			get := resp.NewCommand("GET", string(key))
			send := func(cmd resp.Command, done func(resp.Value, error)) { b.Send(mode.ctx, cmd, done) }
			var res []result
			setAlloc := allocated(func() { res = sendAll(t, send, set) })
			check(t, "SET", res[0], []byte("+OK\r\n"), false)
			getAlloc := allocated(func() { res = sendAll(t, send, get) })
			check(t, "GET", res[0], bulk(value), true)
			t.Logf("%d MiB value: SET allocated %d bytes (%.2fx), GET %d bytes (%.2fx)",
				size>>20, setAlloc, float64(setAlloc)/size, getAlloc, float64(getAlloc)/size)
			if setAlloc > uint64(mode.setMax) {
				t.Errorf("SET of %d bytes allocated %d bytes, want at most %d: the command was copied", size, setAlloc, mode.setMax)
			}
			if getAlloc > size*13/10 {
				t.Errorf("GET of %d bytes allocated %d bytes: want at most 1.3x", size, getAlloc)
			}
		})
	}
}

// allocated returns the bytes the process allocated while f ran. A reply that is not
// Owned is copied (sendAll), as its taker must.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
