package command

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

// These tests change what Learn learned, and the inTable hook: they are not parallel,
// and restore both when they end. Lookup of the table's commands, which the other tests
// use, never consults what Learn learned.

// keepLearned restores the learned commands and the inTable hook when t ends.
func keepLearned(t *testing.T) {
	t.Helper()
	old, oldInTable := learned.Load(), inTable
	t.Cleanup(func() {
		learned.Store(old)
		inTable = oldInTable
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

func learnedKeys(t *testing.T, args ...string) string {
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
	n, err := Learn(reply)
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
		if got := learnedKeys(t, tc.args...); got != tc.want {
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
	if c, _ := Lookup([]byte("get")); c != &table[tableIndex["get"]] {
		t.Error("GET is no longer the generated table's")
	}
	for _, tc := range []struct {
		name  string
		class Class
	}{
		{"json.set", Shared},          // a data command
		{"fake.nokeys", Unclassified}, // nothing says what it does
		{"fake.cfg", Local},           // a container
	} {
		if c, _ := Lookup([]byte(tc.name)); c.Class != tc.class {
			t.Errorf("%s learned as class %s, want %s", tc.name, c.Class, tc.class)
		}
	}
	if ServerLacks([]byte("json.set")) || ServerLacks([]byte("GET")) || !ServerLacks([]byte("fake.never")) {
		t.Error("ServerLacks does not follow the server's command list")
	}

	// Learning again adds nothing; a new command is added next to those learned before.
	n, err = Learn(arr(
		entry("json.set", -4, nil, 0, 0, 0, nil),
		entry("fake.later", 2, []string{"readonly"}, 1, 1, 1, nil),
	))
	if err != nil || n != 1 {
		t.Fatalf("second Learn = %d, %v; want 1", n, err)
	}
	if learnedKeys(t, "fake.later", "k") != "[1]" || learnedKeys(t, "json.set", "d", "$", "1") != "[1]" {
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
	for _, tc := range []struct {
		name  string
		reply resp.Value
		want  string
	}{
		{"error reply", resp.Error("ERR", "unknown command 'COMMAND'"), "unknown command"},
		{"not an array", resp.Integer(3), "want an array"},
		{"malformed entry", arr(arr(bulk("x"))), "malformed"},
		{"subcommand of another", arr(entry("a", 2, nil, 0, 0, 0, nil, entry("b|c", 2, nil, 0, 0, 0, nil))), "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Learn(resp.Raw(tc.reply.AppendTo(nil)))
			if err == nil || n != 0 || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "command: learn: ") {
				t.Errorf("Learn = %d, %v; want an error with %q", n, err, tc.want)
			}
		})
	}
}

// serverCommand starts a redis-server and returns its answer to COMMAND.
func serverCommand(t *testing.T) (*redistest.Server, resp.Value) {
	t.Helper()
	s := redistest.Start(t)
	return s, proxytest.Dial(t, s.Addr()).Do("COMMAND")
}

func TestLearnStockServer(t *testing.T) {
	keepLearned(t)
	_, reply := serverCommand(t)
	n, err := Learn(reply)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("Learn from a stock redis-server (7.0 to %s, which the table covers) added %d commands", TableVersion, n)
	}
	if ServerLacks([]byte("get")) || ServerLacks([]byte("CLIENT")) || !ServerLacks([]byte("nosuchcommand")) {
		t.Error("ServerLacks does not follow the server's command list")
	}
}

// TestLearnAgreesWithTable has Learn learn every command of a real redis-server, as if
// the table knew none of them, and checks that what it learned has the same arity and
// routing flags as the table, and finds the same keys in the invocations of keyCases:
// Learn reads COMMAND as the generator reads Redis's command files. (What changed since
// the server's version is not compared.)
func TestLearnAgreesWithTable(t *testing.T) {
	keepLearned(t)
	_, reply := serverCommand(t)
	inTable = func(string) bool { return false }
	n, err := Learn(reply)
	if err != nil {
		t.Fatal(err)
	}
	if n < 200 {
		t.Fatalf("learned %d commands", n)
	}
	var check func(gen, got *Info)
	check = func(gen, got *Info) {
		// The flags a proxy routes by; Redis 7.2 and 7.4 added others (may_replicate,
		// touches_arbitrary_keys, protected) and tips, which a 7.0 server lacks.
		const routing = Write | ReadOnly | Blocking | PubSub | Admin | NoMulti | AllowBusy | MovableKeys
		if gen.Arity != got.Arity && !newerArity[gen.Name] ||
			gen.Flags&routing != got.Flags&routing && !newerFlags[gen.Name] || gen.HasKeys() != got.HasKeys() {
			t.Errorf("%s: learned arity %d flags %q keys %v; the table %d %q %v",
				gen.Name, got.Arity, got.Flags, got.HasKeys(), gen.Arity, gen.Flags, gen.HasKeys())
		}
		for i := range got.subs {
			if s, ok := gen.Subcommand([]byte(strings.TrimPrefix(got.subs[i].Name, gen.Name+"|"))); ok {
				check(s, &got.subs[i])
			}
		}
	}
	compared := 0
	for i := range table {
		gen := &table[i]
		got, ok := lookupLearned([]byte(gen.Name))
		if !ok {
			continue // newer than the server
		}
		check(gen, got)
		compared++
	}
	if compared < 200 {
		t.Errorf("only %d commands compared", compared)
	}
	for _, kc := range keyCases {
		args := argsOf(kc.args)
		gen, _ := Lookup(args[0])
		got, ok := lookupLearned([]byte(strings.ToLower(kc.args[0])))
		if !ok || gen.Resolve(args).proc != procNone {
			continue // Redis finds these keys with code of its own, which Learn cannot read
		}
		if w, g := fmt.Sprint(gen.Keys(args, nil)), fmt.Sprint(got.Keys(args, nil)); w != g {
			t.Errorf("%q: learned keys %s, the table's %s", kc.args, g, w)
		}
	}
}

// What changed between Redis 7.0 (the server the tests run) and the table's version:
// the table holds the newer arity and flags.
var (
	newerArity = map[string]bool{"command|getkeys": true, "command|getkeysandflags": true, "zrank": true, "zrevrank": true}
	newerFlags = map[string]bool{"wait": true}
)
