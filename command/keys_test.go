package command

import (
	"slices"
	"strings"
	"testing"

	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
)

// keyCase is an invocation and the indexes of its keys.
type keyCase struct {
	name string
	args []string
	want []int
	// redisDiffers: COMMAND GETKEYS finds other keys than the command itself touches
	// (see Keys).
	redisDiffers bool
}

// keyCases are the invocations whose keys are tricky: numkeys, keywords, ranges with a
// limit, subcommands, and the commands Redis finds the keys of with a procedure of its
// own. Each is checked against the expected indexes and against COMMAND GETKEYS.
var keyCases = []keyCase{
	{"GET", []string{"GET", "a"}, []int{1}, false},
	{"get lower case", []string{"get", "a"}, []int{1}, false},
	{"SET", []string{"SET", "a", "v", "EX", "10"}, []int{1}, false},
	{"DEL", []string{"DEL", "a", "b", "c"}, []int{1, 2, 3}, false},
	{"UNLINK", []string{"UNLINK", "a", "b"}, []int{1, 2}, false},
	{"EXISTS", []string{"EXISTS", "a", "b"}, []int{1, 2}, false},
	{"MGET", []string{"MGET", "a", "b", "c"}, []int{1, 2, 3}, false},
	{"MSET", []string{"MSET", "a", "1", "b", "2", "c", "3"}, []int{1, 3, 5}, false},
	{"MSETNX", []string{"MSETNX", "a", "1", "b", "2"}, []int{1, 3}, false},
	{"RENAME", []string{"RENAME", "a", "b"}, []int{1, 2}, false},
	{"RENAMENX", []string{"RENAMENX", "a", "b"}, []int{1, 2}, false},
	{"COPY", []string{"COPY", "a", "b", "DB", "1", "REPLACE"}, []int{1, 2}, false},
	{"LMOVE", []string{"LMOVE", "a", "b", "LEFT", "RIGHT"}, []int{1, 2}, false},
	{"BLMOVE", []string{"BLMOVE", "a", "b", "LEFT", "RIGHT", "0"}, []int{1, 2}, false},
	{"RPOPLPUSH", []string{"RPOPLPUSH", "a", "b"}, []int{1, 2}, false},
	{"SMOVE", []string{"SMOVE", "a", "b", "m"}, []int{1, 2}, false},
	{"BLPOP", []string{"BLPOP", "a", "b", "c", "0"}, []int{1, 2, 3}, false},
	{"BRPOP", []string{"BRPOP", "a", "0"}, []int{1}, false},
	{"BZPOPMIN", []string{"BZPOPMIN", "a", "b", "0"}, []int{1, 2}, false},
	{"EVAL numkeys 2", []string{"EVAL", "return 1", "2", "a", "b", "x", "y"}, []int{3, 4}, false},
	{"EVAL numkeys 0", []string{"EVAL", "return 1", "0", "x"}, nil, false},
	{"EVALSHA", []string{"EVALSHA", "abc", "1", "a", "x"}, []int{3}, false},
	{"EVAL_RO", []string{"EVAL_RO", "return 1", "1", "a"}, []int{3}, false},
	{"FCALL", []string{"FCALL", "f", "2", "a", "b", "x"}, []int{3, 4}, false},
	{"FCALL_RO", []string{"FCALL_RO", "f", "1", "a"}, []int{3}, false},
	{"ZUNIONSTORE", []string{"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"}, []int{1, 3, 4}, false},
	{"ZINTERSTORE", []string{"ZINTERSTORE", "d", "3", "a", "b", "c", "AGGREGATE", "MAX"}, []int{1, 3, 4, 5}, false},
	{"ZDIFFSTORE", []string{"ZDIFFSTORE", "d", "2", "a", "b"}, []int{1, 3, 4}, false},
	{"ZINTER", []string{"ZINTER", "2", "a", "b", "WITHSCORES"}, []int{2, 3}, false},
	{"ZUNION", []string{"ZUNION", "1", "a"}, []int{2}, false},
	{"ZINTERCARD", []string{"ZINTERCARD", "2", "a", "b", "LIMIT", "5"}, []int{2, 3}, false},
	{"SINTERCARD", []string{"SINTERCARD", "3", "a", "b", "c", "LIMIT", "1"}, []int{2, 3, 4}, false},
	{"LMPOP", []string{"LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"}, []int{2, 3}, false},
	{"BLMPOP", []string{"BLMPOP", "0", "2", "a", "b", "RIGHT"}, []int{3, 4}, false},
	{"ZMPOP", []string{"ZMPOP", "1", "a", "MIN"}, []int{2}, false},
	{"BZMPOP", []string{"BZMPOP", "0", "2", "a", "b", "MAX", "COUNT", "2"}, []int{3, 4}, false},
	{"XREAD one stream", []string{"XREAD", "STREAMS", "a", "0"}, []int{2}, false},
	{"XREAD two streams", []string{"XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "a", "b", "0", "$"}, []int{6, 7}, false},
	{"XREADGROUP", []string{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "a", "b", ">", ">"}, []int{7, 8}, false},
	{"SORT", []string{"SORT", "a"}, []int{1}, false},
	{"SORT STORE", []string{"SORT", "a", "LIMIT", "0", "10", "BY", "w_*", "GET", "#", "STORE", "d"}, []int{1, 10}, false},
	{"SORT last STORE", []string{"SORT", "a", "STORE", "d1", "STORE", "d2"}, []int{1, 5}, false},
	{"SORT store as a BY pattern", []string{"SORT", "a", "BY", "store", "ALPHA"}, []int{1}, false},
	{"SORT STORE of a key named by", []string{"SORT", "L", "STORE", "by", "STORE", "victim"}, []int{1, 5}, true},
	{"SORT STORE of a key named limit", []string{"SORT", "L", "STORE", "limit", "STORE", "victim"}, []int{1, 5}, true},
	{"SORT STORE of a key named get", []string{"SORT", "L", "STORE", "get", "STORE", "victim"}, []int{1, 5}, true},
	{"SORT after a syntax error", []string{"SORT", "L", "NOPE", "STORE", "d"}, []int{1}, true},
	{"GEORADIUS STORE twice", []string{"GEORADIUS", "geo", "0", "0", "1", "m", "STORE", "x", "STORE", "victim"}, []int{1, 9}, true},
	{"GEORADIUS STORE then STOREDIST", []string{"GEORADIUS", "geo", "0", "0", "1", "m", "STORE", "x", "STOREDIST", "victim"}, []int{1, 9}, true},
	{"GEORADIUSBYMEMBER STOREDIST twice", []string{"GEORADIUSBYMEMBER", "geo", "m", "1", "m", "STOREDIST", "x", "STOREDIST", "victim"}, []int{1, 8}, true},
	{"GEORADIUS COUNT before STORE", []string{"GEORADIUS", "geo", "0", "0", "1", "m", "COUNT", "1", "STORE", "d"}, []int{1, 9}, false},
	{"XREADGROUP a group named streams", []string{"XREADGROUP", "COUNT", "1", "GROUP", "streams", "c", "STREAMS", "k", ">"}, []int{7}, true},
	{"SORT_RO", []string{"SORT_RO", "a", "BY", "w_*", "GET", "o_*"}, []int{1}, false},
	{"MIGRATE one key", []string{"MIGRATE", "h", "6379", "a", "0", "5000"}, []int{3}, false},
	{"MIGRATE KEYS", []string{"MIGRATE", "h", "6379", "", "0", "5000", "COPY", "REPLACE", "AUTH2", "u", "p", "KEYS", "a", "b"}, []int{12, 13}, false},
	{"MIGRATE AUTH keys as password", []string{"MIGRATE", "h", "6379", "", "0", "5000", "AUTH", "keys", "KEYS", "a"}, []int{9}, false},
	{"GEORADIUS", []string{"GEORADIUS", "a", "1", "2", "3", "km"}, []int{1}, false},
	{"GEORADIUS STORE", []string{"GEORADIUS", "a", "1", "2", "3", "km", "STORE", "d"}, []int{1, 7}, false},
	{"GEORADIUS STOREDIST", []string{"GEORADIUS", "a", "1", "2", "3", "km", "COUNT", "3", "STOREDIST", "d"}, []int{1, 9}, false},
	{"GEORADIUSBYMEMBER STORE", []string{"GEORADIUSBYMEMBER", "a", "m", "3", "km", "STORE", "d"}, []int{1, 6}, false},
	{"GEOSEARCHSTORE", []string{"GEOSEARCHSTORE", "d", "a", "FROMMEMBER", "m", "BYRADIUS", "1", "km"}, []int{1, 2}, false},
	{"BITOP", []string{"BITOP", "AND", "d", "a", "b"}, []int{2, 3, 4}, false},
	{"OBJECT ENCODING", []string{"OBJECT", "ENCODING", "a"}, []int{2}, false},
	{"object encoding lower case", []string{"object", "encoding", "a"}, []int{2}, false},
	{"XINFO STREAM", []string{"XINFO", "STREAM", "a", "FULL"}, []int{2}, false},
	{"XINFO GROUPS", []string{"XINFO", "GROUPS", "a"}, []int{2}, false},
	{"MEMORY USAGE", []string{"MEMORY", "USAGE", "a", "SAMPLES", "5"}, []int{2}, false},
	{"XGROUP CREATE", []string{"XGROUP", "CREATE", "a", "g", "$"}, []int{2}, false},
	{"LCS", []string{"LCS", "a", "b"}, []int{1, 2}, false},
	{"PFMERGE", []string{"PFMERGE", "d", "a", "b"}, []int{1, 2, 3}, false},
	{"PFMERGE without sources", []string{"PFMERGE", "d"}, []int{1}, true},
	{"PFCOUNT", []string{"PFCOUNT", "a", "b"}, []int{1, 2}, false},
	{"SDIFFSTORE", []string{"SDIFFSTORE", "d", "a", "b"}, []int{1, 2, 3}, false},
	{"WATCH", []string{"WATCH", "a", "b"}, []int{1, 2}, false},
	{"TOUCH", []string{"TOUCH", "a"}, []int{1}, false},
	{"RESTORE", []string{"RESTORE", "a", "0", "payload"}, []int{1}, false},
	{"GETEX", []string{"GETEX", "a", "PERSIST"}, []int{1}, false},
	{"LPOS", []string{"LPOS", "a", "x", "RANK", "1"}, []int{1}, false},
	{"XADD", []string{"XADD", "a", "*", "f", "v"}, []int{1}, false},
	{"BITFIELD", []string{"BITFIELD", "a", "GET", "u8", "0"}, []int{1}, false},
}

// malformedCases are invocations Redis refuses: Keys returns what the valid specs find,
// without panicking.
var malformedCases = []keyCase{
	{"EVAL numkeys beyond args", []string{"EVAL", "s", "5", "a"}, nil, false},
	{"EVAL numkeys not a number", []string{"EVAL", "s", "x", "a"}, nil, false},
	{"EVAL numkeys negative", []string{"EVAL", "s", "-1", "a"}, nil, false},
	{"EVAL numkeys leading zero: atoi reads it", []string{"EVAL", "s", "01", "a"}, []int{3}, false},
	{"EVAL numkeys huge", []string{"EVAL", "s", "99999999999999999999", "a"}, nil, false},
	{"EVAL without numkeys", []string{"EVAL", "s"}, nil, false},
	{"ZUNIONSTORE numkeys beyond args", []string{"ZUNIONSTORE", "d", "9", "a"}, nil, false},
	{"ZINTER without keys", []string{"ZINTER"}, nil, false},
	{"XREAD without STREAMS", []string{"XREAD", "COUNT", "1"}, nil, false},
	{"XREAD STREAMS last", []string{"XREAD", "STREAMS"}, nil, false},
	{"GET without key", []string{"GET"}, nil, false},
	{"MSET odd", []string{"MSET", "a", "1", "b"}, []int{1, 3}, false},
	{"only the name", []string{"SORT"}, nil, false},
	{"MIGRATE KEYS with a key", []string{"MIGRATE", "h", "1", "a", "0", "1", "KEYS", "b"}, nil, false},
	{"MIGRATE short", []string{"MIGRATE", "h"}, nil, false},
	{"SORT STORE last", []string{"SORT", "a", "STORE"}, []int{1}, false},
	{"OBJECT without subcommand", []string{"OBJECT"}, nil, false},
	{"OBJECT unknown subcommand", []string{"OBJECT", "NOPE", "a"}, nil, false},
	{"LMPOP numkeys 0", []string{"LMPOP", "0", "LEFT"}, nil, false},
	{"empty", nil, nil, false},
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
	cmd, ok := Lookup([]byte(args[0]))
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

// getKeys asks the server at addr which arguments of each invocation are keys (COMMAND
// GETKEYS), in one pipeline. An invocation Redis finds no keys in gets an empty list.
func getKeys(t *testing.T, addr string, invs [][]string) [][]string {
	t.Helper()
	c := proxytest.Dial(t, addr)
	for _, inv := range invs {
		c.Send(append([]string{"COMMAND", "GETKEYS"}, inv...))
	}
	out := make([][]string, len(invs))
	for i, inv := range invs {
		v, err := c.Read().Decode()
		if err != nil {
			t.Fatalf("COMMAND GETKEYS %q: %v", inv, err)
		}
		if v.IsError() {
			if !strings.Contains(string(v.Str), "Invalid arguments specified") {
				t.Errorf("COMMAND GETKEYS %q: %s", inv, v.Str)
			}
			continue
		}
		for _, e := range v.Elems {
			out[i] = append(out[i], string(e.Str))
		}
	}
	return out
}

// TestKeysMatchRedis compares Keys with a real Redis's COMMAND GETKEYS for the
// hand-written cases, but for those where Redis's lookup and the command's own reading
// of its options differ, and Keys follows the command.
func TestKeysMatchRedis(t *testing.T) {
	t.Parallel()
	var invs [][]string
	for _, tc := range append(keyCases, malformedCases...) {
		if c, _ := Check(argsOf(tc.args)); c != nil && !tc.redisDiffers {
			invs = append(invs, tc.args)
		}
	}
	for i, want := range getKeys(t, redistest.Start(t).Addr(), invs) {
		var got []string
		for _, k := range keysOf(invs[i]) {
			got = append(got, invs[i][k])
		}
		if !slices.Equal(got, want) {
			t.Errorf("keys of %q: model %q, redis %q", invs[i], got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"get", "GET", "GeT", "object", "sort_ro", "xreadgroup"} {
		c, ok := Lookup([]byte(name))
		if !ok || c.Name != strings.ToLower(name) {
			t.Errorf("Lookup(%q) = %v, %v", name, c, ok)
		}
	}
	for _, name := range []string{"", "nope", "object|encoding", strings.Repeat("g", 100)} {
		if c, ok := Lookup([]byte(name)); ok {
			t.Errorf("Lookup(%q) = %v, want none", name, c.Name)
		}
	}
	get, _ := Lookup([]byte("get"))
	if get.Arity != 2 || !get.Flags.Has(ReadOnly|Fast) || get.Flags.Has(Write) {
		t.Errorf("get: arity %d flags %v", get.Arity, get.Flags)
	}
	if c, _ := Lookup([]byte("flushall")); !c.Flags.Has(Write) {
		t.Errorf("flushall flags %v, want write", c.Flags)
	}
	if c, _ := Lookup([]byte("blpop")); !c.Flags.Has(Blocking) {
		t.Errorf("blpop flags %v, want blocking", c.Flags)
	}
	obj, _ := Lookup([]byte("OBJECT"))
	enc, ok := obj.Subcommand([]byte("Encoding"))
	if !ok || enc.Name != "object|encoding" || enc.Arity != 3 {
		t.Errorf("OBJECT ENCODING: %v, %v", enc, ok)
	}
	if c, _ := Lookup([]byte("spublish")); c.HasKeys() {
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
		c, _ := Lookup(name)
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
				c, _ := Lookup(args[0])
				dst = c.Keys(args, dst)
			}
		})
	}
}
