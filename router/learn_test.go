package router

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redchain/redchain/backend"
	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/internal/redistest"
	"github.com/redchain/redchain/proxy/resp"
)

// These tests change what Learn learned, and the known hook: they are not parallel, and
// restore both when they end. Lookup of the generated table's commands, which the other
// tests use, never consults what Learn learned.

// keepLearned restores the learned commands and the known hook when t ends.
func keepLearned(t *testing.T) {
	t.Helper()
	old, oldKnown := learned.Load(), known
	t.Cleanup(func() {
		learned.Store(old)
		known = oldKnown
	})
}

// Helpers to write a COMMAND reply as Redis 7 sends it in RESP2.
func bulk(s string) resp.Value   { return resp.BulkString(s) }
func status(s string) resp.Value { return resp.SimpleString(s) }
func num(n int64) resp.Value     { return resp.Integer(n) }
func arr(v ...resp.Value) resp.Value {
	return resp.Array(v...)
}
func statuses(ss ...string) resp.Value {
	var v []resp.Value
	for _, s := range ss {
		v = append(v, status(s))
	}
	return arr(v...)
}

// entry is one command of COMMAND's reply.
func entry(name string, arity int64, flags []string, first, last, step int64, specs []resp.Value, subs ...resp.Value) resp.Value {
	return arr(bulk(name), num(arity), statuses(flags...), num(first), num(last), num(step),
		arr(), arr(), arr(specs...), arr(subs...))
}

func indexRange(index, lastKey, step int64, flags ...string) resp.Value {
	return arr(
		bulk("flags"), statuses(flags...),
		bulk("begin_search"), arr(bulk("type"), bulk("index"), bulk("spec"), arr(bulk("index"), num(index))),
		bulk("find_keys"), arr(bulk("type"), bulk("range"), bulk("spec"),
			arr(bulk("lastkey"), num(lastKey), bulk("keystep"), num(step), bulk("limit"), num(0))),
	)
}

func keywordKeynum(keyword string, from, numIdx, firstKey, step int64) resp.Value {
	return arr(
		bulk("flags"), statuses("RO"),
		bulk("begin_search"), arr(bulk("type"), bulk("keyword"), bulk("spec"),
			arr(bulk("keyword"), bulk(keyword), bulk("startfrom"), num(from))),
		bulk("find_keys"), arr(bulk("type"), bulk("keynum"), bulk("spec"),
			arr(bulk("keynumidx"), num(numIdx), bulk("firstkey"), num(firstKey), bulk("keystep"), num(step))),
	)
}

// answer is a backend that answers every command with v (encoded, as a backend hands
// replies over raw).
func answer(v resp.Value) backend.Func {
	return func(_ context.Context, cmd resp.Command, done func(resp.Value, error)) {
		done(resp.Raw(v.AppendTo(nil)), nil)
	}
}

func keysOf(t *testing.T, args ...string) string {
	t.Helper()
	c, ok := Lookup([]byte(args[0]))
	if !ok {
		return "unknown"
	}
	return fmt.Sprint(c.Keys(resp.NewCommand(args...).Args, nil))
}

func TestLearnModuleCommands(t *testing.T) {
	keepLearned(t)
	reply := arr(
		// Known: left alone.
		entry("get", 2, []string{"readonly", "fast"}, 1, 1, 1, []resp.Value{indexRange(1, 0, 1, "RO")}),
		// A module command with key specs.
		entry("json.set", -4, []string{"write", "denyoom"}, 1, 1, 1, []resp.Value{indexRange(1, 0, 1, "RW", "update")}),
		// With a keyword and a key count: FAKE.MERGE x y KEYS 2 k1 k2.
		entry("fake.merge", -3, []string{"write"}, 0, 0, 0, []resp.Value{keywordKeynum("KEYS", 1, 0, 1, 1)}),
		// No key specs (Redis 6, or a module that declares none): first, last, step.
		entry("FAKE.MSET", -3, []string{"write"}, 1, -1, 2, nil),
		entry("fake.two", 3, []string{"readonly"}, 1, 2, 1, nil),
		entry("fake.nokeys", 1, []string{"fast", "loading", "no_such_flag"}, 0, 0, 0, nil),
		// A container with a subcommand.
		entry("fake.cfg", -2, nil, 0, 0, 0, nil,
			entry("fake.cfg|get", 3, []string{"readonly"}, 2, 2, 1, []resp.Value{indexRange(2, 0, 1, "RO")}),
			entry("fake.cfg|help", 2, []string{"loading"}, 0, 0, 0, nil)),
	)
	n, err := Learn(context.Background(), answer(reply))
	if err != nil || n != 6 {
		t.Fatalf("Learn = %d, %v; want 6 commands", n, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"JSON.SET", "doc", "$", "{}"}, "[1]"},
		{[]string{"fake.merge", "x", "y", "KEYS", "2", "k1", "k2"}, "[5 6]"},
		{[]string{"fake.mset", "a", "1", "b", "2"}, "[1 3]"},
		{[]string{"fake.two", "a", "b"}, "[1 2]"},
		{[]string{"fake.nokeys"}, "[]"},
		{[]string{"FAKE.CFG", "GET", "k"}, "[2]"},
		{[]string{"fake.cfg", "help"}, "[]"},
		{[]string{"get", "k"}, "[1]"},
		{[]string{"fake.never", "k"}, "unknown"},
	} {
		if got := keysOf(t, tc.args...); got != tc.want {
			t.Errorf("keys of %q = %s, want %s", tc.args, got, tc.want)
		}
	}
	c, _ := Lookup([]byte("json.set"))
	if c.Name != "json.set" || c.Arity != -4 || c.Flags != Write|DenyOOM || !c.HasKeys() {
		t.Errorf("json.set learned as %+v", c)
	}
	if c, _ := Lookup([]byte("fake.nokeys")); c.Flags != Fast|Loading || c.HasKeys() {
		t.Errorf("fake.nokeys learned with flags %q", c.Flags)
	}
	if c, _ := Lookup([]byte("get")); c != &commandTable[commandIndex["get"]] {
		t.Error("GET is no longer the generated table's")
	}

	// Learning again adds nothing; a new command is added next to those learned before.
	n, err = Learn(context.Background(), answer(arr(
		entry("json.set", -4, nil, 0, 0, 0, nil),
		entry("fake.later", 2, nil, 1, 1, 1, nil),
	)))
	if err != nil || n != 1 {
		t.Fatalf("second Learn = %d, %v; want 1", n, err)
	}
	if keysOf(t, "fake.later", "k") != "[1]" || keysOf(t, "json.set", "d", "$", "1") != "[1]" {
		t.Error("a learned command was lost or replaced")
	}

	// Lookup stays free of allocations, for the generated table and for learned commands.
	for _, name := range []string{"GET", "json.set", "nosuchcommand"} {
		b := []byte(name)
		if a := testing.AllocsPerRun(100, func() { Lookup(b) }); a != 0 {
			t.Errorf("Lookup(%s): %v allocations", name, a)
		}
	}
}

func TestLearnErrors(t *testing.T) {
	keepLearned(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		b    backend.Backend
		want string
	}{
		{"error reply", answer(resp.Error("ERR", "unknown command 'COMMAND'")), "unknown command"},
		{"transport error", backend.Func(func(_ context.Context, _ resp.Command, done func(resp.Value, error)) {
			done(resp.Value{}, backend.ErrUnavailable)
		}), "backend unavailable"},
		{"not an array", answer(resp.Integer(3)), "want an array"},
		{"malformed entry", answer(arr(arr(bulk("x")))), "malformed"},
		{"subcommand of another", answer(arr(entry("a", 2, nil, 0, 0, 0, nil, entry("b|c", 2, nil, 0, 0, 0, nil)))), "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Learn(ctx, tc.b)
			if err == nil || n != 0 || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "router: learn: ") {
				t.Errorf("Learn = %d, %v; want an error with %q", n, err, tc.want)
			}
		})
	}
	// A backend that never answers: Learn gives up with ctx.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	silent := backend.Func(func(context.Context, resp.Command, func(resp.Value, error)) {})
	if _, err := Learn(cctx, silent); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Learn from a silent backend: %v, want the context's error", err)
	}
}

// realBackend starts a redis-server and returns it with a backend/redis client of it.
func realBackend(t *testing.T) (*redistest.Server, backend.Backend) {
	t.Helper()
	s := redistest.Start(t)
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return s, b
}

func TestLearnStockServer(t *testing.T) {
	keepLearned(t)
	s, b := realBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Learn(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	version, _ := s.Client().InfoMap(ctx, "server").Result()
	if v := version["Server"]["redis_version"]; v == RedisVersion && n != 0 {
		t.Errorf("Learn from redis-server %s, the table's own version, added %d commands", v, n)
	} else {
		t.Logf("redis-server %s: %d commands learned", v, n)
	}
}

// TestLearnAgreesWithTable has Learn learn every command of a real redis-server, as if
// the generated table knew none of them, and checks that what it learned finds the same
// keys as the table in every example invocation router/gen wrote, with the same arity
// and flags: Learn reads COMMAND as the generator does.
func TestLearnAgreesWithTable(t *testing.T) {
	keepLearned(t)
	_, b := realBackend(t)
	known = func(string) bool { return false }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Learn(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if n < len(commandTable) {
		t.Fatalf("learned %d commands, the table has %d", n, len(commandTable))
	}
	var check func(gen, got *Command)
	check = func(gen, got *Command) {
		if gen.Arity != got.Arity || gen.Flags != got.Flags || len(gen.subs) != len(got.subs) || gen.HasKeys() != got.HasKeys() {
			t.Errorf("%s: learned arity %d flags %q subs %d, the table %d %q %d",
				gen.Name, got.Arity, got.Flags, len(got.subs), gen.Arity, gen.Flags, len(gen.subs))
			return
		}
		for i := range gen.subs {
			check(&gen.subs[i], &got.subs[i])
		}
	}
	for i := range commandTable {
		gen := &commandTable[i]
		got, ok := lookupLearned([]byte(gen.Name))
		if !ok {
			t.Errorf("%s not learned", gen.Name)
			continue
		}
		check(gen, got)
	}

	f, err := os.Open("testdata/examples.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	checked := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var inv []string
		if err := json.Unmarshal([]byte(line), &inv); err != nil {
			t.Fatal(err)
		}
		args := resp.NewCommand(inv...).Args
		gen, _ := Lookup(args[0])
		got, _ := lookupLearned([]byte(strings.ToLower(inv[0])))
		if gen.Resolve(args).getKeys != procNone {
			continue // SORT, SORT_RO, MIGRATE: Redis finds their keys with code of its own
		}
		if w, g := fmt.Sprint(gen.Keys(args, nil)), fmt.Sprint(got.Keys(args, nil)); w != g {
			t.Errorf("%q: learned keys %s, the table's %s", inv, g, w)
		}
		checked++
	}
	if checked < 100 {
		t.Errorf("only %d examples checked", checked)
	}
}
