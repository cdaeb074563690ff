package router_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/internal/redistest"
	"github.com/redchain/redchain/router"
)

// keyCase is an invocation and the indexes of its keys.
type keyCase struct {
	name string
	args []string
	want []int
}

// keyCases are the invocations whose keys are tricky: numkeys, keywords, ranges with a
// limit, subcommands, and the commands Redis finds the keys of with a procedure of its
// own. Each is checked against the expected indexes and against COMMAND GETKEYS.
var keyCases = []keyCase{
	{"GET", []string{"GET", "a"}, []int{1}},
	{"get lower case", []string{"get", "a"}, []int{1}},
	{"SET", []string{"SET", "a", "v", "EX", "10"}, []int{1}},
	{"DEL", []string{"DEL", "a", "b", "c"}, []int{1, 2, 3}},
	{"UNLINK", []string{"UNLINK", "a", "b"}, []int{1, 2}},
	{"EXISTS", []string{"EXISTS", "a", "b"}, []int{1, 2}},
	{"MGET", []string{"MGET", "a", "b", "c"}, []int{1, 2, 3}},
	{"MSET", []string{"MSET", "a", "1", "b", "2", "c", "3"}, []int{1, 3, 5}},
	{"MSETNX", []string{"MSETNX", "a", "1", "b", "2"}, []int{1, 3}},
	{"RENAME", []string{"RENAME", "a", "b"}, []int{1, 2}},
	{"RENAMENX", []string{"RENAMENX", "a", "b"}, []int{1, 2}},
	{"COPY", []string{"COPY", "a", "b", "DB", "1", "REPLACE"}, []int{1, 2}},
	{"LMOVE", []string{"LMOVE", "a", "b", "LEFT", "RIGHT"}, []int{1, 2}},
	{"BLMOVE", []string{"BLMOVE", "a", "b", "LEFT", "RIGHT", "0"}, []int{1, 2}},
	{"RPOPLPUSH", []string{"RPOPLPUSH", "a", "b"}, []int{1, 2}},
	{"SMOVE", []string{"SMOVE", "a", "b", "m"}, []int{1, 2}},
	{"BLPOP", []string{"BLPOP", "a", "b", "c", "0"}, []int{1, 2, 3}},
	{"BRPOP", []string{"BRPOP", "a", "0"}, []int{1}},
	{"BZPOPMIN", []string{"BZPOPMIN", "a", "b", "0"}, []int{1, 2}},
	{"EVAL numkeys 2", []string{"EVAL", "return 1", "2", "a", "b", "x", "y"}, []int{3, 4}},
	{"EVAL numkeys 0", []string{"EVAL", "return 1", "0", "x"}, nil},
	{"EVALSHA", []string{"EVALSHA", "abc", "1", "a", "x"}, []int{3}},
	{"EVAL_RO", []string{"EVAL_RO", "return 1", "1", "a"}, []int{3}},
	{"FCALL", []string{"FCALL", "f", "2", "a", "b", "x"}, []int{3, 4}},
	{"FCALL_RO", []string{"FCALL_RO", "f", "1", "a"}, []int{3}},
	{"ZUNIONSTORE", []string{"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"}, []int{1, 3, 4}},
	{"ZINTERSTORE", []string{"ZINTERSTORE", "d", "3", "a", "b", "c", "AGGREGATE", "MAX"}, []int{1, 3, 4, 5}},
	{"ZDIFFSTORE", []string{"ZDIFFSTORE", "d", "2", "a", "b"}, []int{1, 3, 4}},
	{"ZINTER", []string{"ZINTER", "2", "a", "b", "WITHSCORES"}, []int{2, 3}},
	{"ZUNION", []string{"ZUNION", "1", "a"}, []int{2}},
	{"ZINTERCARD", []string{"ZINTERCARD", "2", "a", "b", "LIMIT", "5"}, []int{2, 3}},
	{"SINTERCARD", []string{"SINTERCARD", "3", "a", "b", "c", "LIMIT", "1"}, []int{2, 3, 4}},
	{"LMPOP", []string{"LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"}, []int{2, 3}},
	{"BLMPOP", []string{"BLMPOP", "0", "2", "a", "b", "RIGHT"}, []int{3, 4}},
	{"ZMPOP", []string{"ZMPOP", "1", "a", "MIN"}, []int{2}},
	{"BZMPOP", []string{"BZMPOP", "0", "2", "a", "b", "MAX", "COUNT", "2"}, []int{3, 4}},
	{"XREAD one stream", []string{"XREAD", "STREAMS", "a", "0"}, []int{2}},
	{"XREAD two streams", []string{"XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "a", "b", "0", "$"}, []int{6, 7}},
	{"XREADGROUP", []string{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "a", "b", ">", ">"}, []int{7, 8}},
	{"SORT", []string{"SORT", "a"}, []int{1}},
	{"SORT STORE", []string{"SORT", "a", "LIMIT", "0", "10", "BY", "w_*", "GET", "#", "STORE", "d"}, []int{1, 10}},
	{"SORT last STORE", []string{"SORT", "a", "STORE", "d1", "STORE", "d2"}, []int{1, 5}},
	{"SORT store as a BY pattern", []string{"SORT", "a", "BY", "store", "ALPHA"}, []int{1}},
	{"SORT_RO", []string{"SORT_RO", "a", "BY", "w_*", "GET", "o_*"}, []int{1}},
	{"MIGRATE one key", []string{"MIGRATE", "h", "6379", "a", "0", "5000"}, []int{3}},
	{"MIGRATE KEYS", []string{"MIGRATE", "h", "6379", "", "0", "5000", "COPY", "REPLACE", "AUTH2", "u", "p", "KEYS", "a", "b"}, []int{12, 13}},
	{"MIGRATE AUTH keys as password", []string{"MIGRATE", "h", "6379", "", "0", "5000", "AUTH", "keys", "KEYS", "a"}, []int{9}},
	{"GEORADIUS", []string{"GEORADIUS", "a", "1", "2", "3", "km"}, []int{1}},
	{"GEORADIUS STORE", []string{"GEORADIUS", "a", "1", "2", "3", "km", "STORE", "d"}, []int{1, 7}},
	{"GEORADIUS STOREDIST", []string{"GEORADIUS", "a", "1", "2", "3", "km", "COUNT", "3", "STOREDIST", "d"}, []int{1, 9}},
	{"GEORADIUSBYMEMBER STORE", []string{"GEORADIUSBYMEMBER", "a", "m", "3", "km", "STORE", "d"}, []int{1, 6}},
	{"GEOSEARCHSTORE", []string{"GEOSEARCHSTORE", "d", "a", "FROMMEMBER", "m", "BYRADIUS", "1", "km"}, []int{1, 2}},
	{"BITOP", []string{"BITOP", "AND", "d", "a", "b"}, []int{2, 3, 4}},
	{"OBJECT ENCODING", []string{"OBJECT", "ENCODING", "a"}, []int{2}},
	{"object encoding lower case", []string{"object", "encoding", "a"}, []int{2}},
	{"XINFO STREAM", []string{"XINFO", "STREAM", "a", "FULL"}, []int{2}},
	{"XINFO GROUPS", []string{"XINFO", "GROUPS", "a"}, []int{2}},
	{"MEMORY USAGE", []string{"MEMORY", "USAGE", "a", "SAMPLES", "5"}, []int{2}},
	{"XGROUP CREATE", []string{"XGROUP", "CREATE", "a", "g", "$"}, []int{2}},
	{"LCS", []string{"LCS", "a", "b"}, []int{1, 2}},
	{"PFMERGE", []string{"PFMERGE", "d", "a", "b"}, []int{1, 2, 3}},
	{"PFCOUNT", []string{"PFCOUNT", "a", "b"}, []int{1, 2}},
	{"SDIFFSTORE", []string{"SDIFFSTORE", "d", "a", "b"}, []int{1, 2, 3}},
	{"WATCH", []string{"WATCH", "a", "b"}, []int{1, 2}},
	{"TOUCH", []string{"TOUCH", "a"}, []int{1}},
	{"RESTORE", []string{"RESTORE", "a", "0", "payload"}, []int{1}},
	{"GETEX", []string{"GETEX", "a", "PERSIST"}, []int{1}},
	{"LPOS", []string{"LPOS", "a", "x", "RANK", "1"}, []int{1}},
	{"XADD", []string{"XADD", "a", "*", "f", "v"}, []int{1}},
	{"BITFIELD", []string{"BITFIELD", "a", "GET", "u8", "0"}, []int{1}},
}

// malformedCases are invocations Redis refuses: Keys returns what the valid specs find,
// without panicking.
var malformedCases = []keyCase{
	{"EVAL numkeys beyond args", []string{"EVAL", "s", "5", "a"}, nil},
	{"EVAL numkeys not a number", []string{"EVAL", "s", "x", "a"}, nil},
	{"EVAL numkeys negative", []string{"EVAL", "s", "-1", "a"}, nil},
	{"EVAL numkeys leading zero", []string{"EVAL", "s", "01", "a"}, nil},
	{"EVAL numkeys huge", []string{"EVAL", "s", "99999999999999999999", "a"}, nil},
	{"EVAL without numkeys", []string{"EVAL", "s"}, nil},
	{"ZUNIONSTORE numkeys beyond args", []string{"ZUNIONSTORE", "d", "9", "a"}, []int{1}},
	{"ZINTER without keys", []string{"ZINTER"}, nil},
	{"XREAD without STREAMS", []string{"XREAD", "COUNT", "1"}, nil},
	{"XREAD STREAMS last", []string{"XREAD", "STREAMS"}, nil},
	{"GET without key", []string{"GET"}, nil},
	{"MSET odd", []string{"MSET", "a", "1", "b"}, []int{1, 3}},
	{"only the name", []string{"SORT"}, nil},
	{"MIGRATE KEYS with a key", []string{"MIGRATE", "h", "1", "a", "0", "1", "KEYS", "b"}, nil},
	{"MIGRATE short", []string{"MIGRATE", "h"}, nil},
	{"SORT STORE last", []string{"SORT", "a", "STORE"}, []int{1}},
	{"OBJECT without subcommand", []string{"OBJECT"}, nil},
	{"OBJECT unknown subcommand", []string{"OBJECT", "NOPE", "a"}, nil},
	{"LMPOP numkeys 0", []string{"LMPOP", "0", "LEFT"}, nil},
	{"empty", nil, nil},
}

func argsOf(s []string) [][]byte {
	args := make([][]byte, len(s))
	for i, a := range s {
		args[i] = []byte(a)
	}
	return args
}

// keysOf returns the indexes of the key arguments of args, by way of Lookup and Keys.
func keysOf(args []string) []int {
	if len(args) == 0 {
		return nil
	}
	cmd, ok := router.Lookup([]byte(args[0]))
	if !ok {
		return nil
	}
	return cmd.Keys(argsOf(args), nil)
}

func TestKeys(t *testing.T) {
	t.Parallel()
	for _, cases := range [][]keyCase{keyCases, malformedCases} {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if got := keysOf(tc.args); !slices.Equal(got, tc.want) {
					t.Errorf("Keys(%q) = %v, want %v", tc.args, got, tc.want)
				}
			})
		}
	}
}

// readExamples reads the invocations router/gen wrote from COMMAND DOCS.
func readExamples(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("testdata/examples.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var inv []string
		if err := json.Unmarshal([]byte(line), &inv); err != nil {
			t.Fatalf("examples.txt: %q: %v", line, err)
		}
		out = append(out, inv)
	}
	return out
}

// getKeys asks the server which arguments of args are keys (COMMAND GETKEYS). A command
// Redis finds no keys in gives an empty list.
func getKeys(ctx context.Context, c *redis.Client, args []string) ([]string, error) {
	q := []any{"COMMAND", "GETKEYS"}
	for _, a := range args {
		q = append(q, a)
	}
	keys, err := c.Do(ctx, q...).StringSlice()
	if err != nil && strings.Contains(err.Error(), "Invalid arguments specified") {
		return nil, nil
	}
	return keys, err
}

// TestKeysMatchRedis compares Keys with a real Redis's COMMAND GETKEYS, for the
// hand-written cases and for the examples of every command with keys.
func TestKeysMatchRedis(t *testing.T) {
	t.Parallel()
	c := redistest.Start(t).Client()
	ctx := testCtx(t)
	invs := readExamples(t)
	for _, tc := range keyCases {
		invs = append(invs, tc.args)
	}
	for _, inv := range invs {
		want, err := getKeys(ctx, c, inv)
		if err != nil {
			t.Errorf("COMMAND GETKEYS %q: %v", inv, err)
			continue
		}
		var got []string
		for _, i := range keysOf(inv) {
			got = append(got, inv[i])
		}
		if !slices.Equal(got, want) {
			t.Errorf("keys of %q: router %q, redis %q", inv, got, want)
		}
	}
}

// TestEveryCommandWithKeysHasAnExample checks that the examples cover the whole table.
func TestEveryCommandWithKeysHasAnExample(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, inv := range readExamples(t) {
		cmd, ok := router.Lookup([]byte(inv[0]))
		if !ok {
			t.Fatalf("example %q: no such command", inv)
		}
		covered[cmd.Resolve(argsOf(inv)).Name] = true
	}
	n := 0
	var check func(c *router.Command)
	check = func(c *router.Command) {
		for i := range c.Subcommands() {
			check(&c.Subcommands()[i])
		}
		if keysOfCommand(c) {
			n++
			if !covered[c.Name] {
				t.Errorf("%s has keys but no example", c.Name)
			}
		}
	}
	for i := range router.Commands() {
		check(&router.Commands()[i])
	}
	if n < 150 {
		t.Errorf("only %d commands with keys: the table looks truncated", n)
	}
	t.Logf("%d commands and subcommands with keys, all with examples", n)
}

// keysOfCommand reports whether c itself (not its subcommands) takes keys.
func keysOfCommand(c *router.Command) bool {
	if len(c.Subcommands()) > 0 {
		return false
	}
	return c.HasKeys()
}

func TestLookup(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"get", "GET", "GeT", "object", "sort_ro", "xreadgroup"} {
		c, ok := router.Lookup([]byte(name))
		if !ok || c.Name != strings.ToLower(name) {
			t.Errorf("Lookup(%q) = %v, %v", name, c, ok)
		}
	}
	for _, name := range []string{"", "nope", "object|encoding", strings.Repeat("g", 100)} {
		if c, ok := router.Lookup([]byte(name)); ok {
			t.Errorf("Lookup(%q) = %v, want none", name, c.Name)
		}
	}
	get, _ := router.Lookup([]byte("get"))
	if get.Arity != 2 || !get.Flags.Has(router.ReadOnly|router.Fast) || get.Flags.Has(router.Write) {
		t.Errorf("get: arity %d flags %v", get.Arity, get.Flags)
	}
	if c, _ := router.Lookup([]byte("flushall")); !c.Flags.Has(router.Write) {
		t.Errorf("flushall flags %v, want write", c.Flags)
	}
	if c, _ := router.Lookup([]byte("blpop")); !c.Flags.Has(router.Blocking) {
		t.Errorf("blpop flags %v, want blocking", c.Flags)
	}
	obj, _ := router.Lookup([]byte("OBJECT"))
	enc, ok := obj.Subcommand([]byte("Encoding"))
	if !ok || enc.Name != "object|encoding" || enc.Arity != 3 {
		t.Errorf("OBJECT ENCODING: %v, %v", enc, ok)
	}
	if c, _ := router.Lookup([]byte("spublish")); c.HasKeys() {
		t.Errorf("spublish: channels are not keys")
	}
	if got := keysOf([]string{"SPUBLISH", "ch", "msg"}); got != nil {
		t.Errorf("SPUBLISH keys %v, want none", got)
	}
}

func TestNoAllocs(t *testing.T) {
	name := []byte("ZUNIONSTORE")
	args := argsOf([]string{"ZUNIONSTORE", "d", "2", "a", "b"})
	dst := make([]int, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		c, _ := router.Lookup(name)
		dst = c.Keys(args, dst)
	})
	if allocs != 0 {
		t.Errorf("Lookup and Keys: %v allocations, want 0", allocs)
	}
}

func BenchmarkLookupKeys(b *testing.B) {
	for _, inv := range [][]string{
		{"GET", "key"},
		{"MSET", "a", "1", "b", "2", "c", "3"},
		{"XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"},
		{"OBJECT", "ENCODING", "a"},
	} {
		b.Run(inv[0], func(b *testing.B) {
			args := argsOf(inv)
			dst := make([]int, 0, 8)
			b.ReportAllocs()
			for b.Loop() {
				c, _ := router.Lookup(args[0])
				dst = c.Keys(args, dst)
			}
		})
	}
}

func ExampleCommand_Keys() {
	args := [][]byte{[]byte("ZUNIONSTORE"), []byte("dest"), []byte("2"), []byte("a"), []byte("b"), []byte("WEIGHTS"), []byte("1"), []byte("2")}
	cmd, _ := router.Lookup(args[0])
	for _, i := range cmd.Keys(args, nil) {
		fmt.Printf("%d:%s\n", i, args[i])
	}
	fmt.Println(cmd.Name, cmd.Arity, cmd.Flags)
	// Output:
	// 1:dest
	// 3:a
	// 4:b
	// zunionstore -4 write denyoom movablekeys
}
