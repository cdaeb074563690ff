package command

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/redchain/redchain/proxy/resp"
)

// byFirstByte puts a key in the group of its first byte ('a', 'b', ...), on shard
// group % 3.
func byFirstByte(key []byte) (int, int) {
	g := 0
	if len(key) > 0 {
		g = int(key[0])
	}
	return g, g % 3
}

// clusterLocate places keys as a Redis Cluster of 3 primaries with even slot ranges does:
// the group is the hash slot, the shard the primary that serves it.
func clusterLocate(key []byte) (int, int) {
	s := int(Slot(key))
	return s, s * 3 / SlotCount
}

// ketamaLocate stands in for a shard set: the group is the server.
func ketamaLocate(key []byte) (int, int) {
	h := fnv.New32a()
	h.Write(key)
	s := int(h.Sum32() % 3)
	return s, s
}

// describe renders a plan: each part as "group/shard: args @pos".
func describe(p *Plan) string {
	var b strings.Builder
	merge := p.Response.String()
	if merge == "" {
		merge = "default"
	}
	fmt.Fprintf(&b, "%s keys=%d shards=%d", merge, p.Keys, p.Shards)
	for _, pt := range p.Parts {
		fmt.Fprintf(&b, " | %d/%d: %s @%v", pt.Group, pt.Shard, strings.Join(strs(pt.Cmd.Args), " "), pt.Pos)
	}
	return b.String()
}

func strs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

func TestSplit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string // "" for a command that is not split
	}{
		{"mget over groups", []string{"MGET", "a1", "b1", "a2", "c1", "b2"},
			`default keys=5 shards=3 | 97/1: MGET a1 a2 @[0 2] | 98/2: MGET b1 b2 @[1 4] | 99/0: MGET c1 @[3]`},
		{"mset keeps values with keys", []string{"mset", "a1", "x", "d1", "y", "a2", "z"},
			`all_succeeded keys=3 shards=1 | 97/1: mset a1 x a2 z @[0 2] | 100/1: mset d1 y @[1]`},
		{"del", []string{"DEL", "b", "a", "b"},
			`agg_sum keys=3 shards=2 | 98/2: DEL b b @[0 2] | 97/1: DEL a @[1]`},
		{"unlink exists touch", []string{"Touch", "x"}, `agg_sum keys=1 shards=1 | 120/0: Touch x @[0]`},
		{"one group", []string{"EXISTS", "a1", "a2"}, `agg_sum keys=2 shards=1 | 97/1: EXISTS a1 a2 @[0 1]`},
		{"unlink", []string{"UNLINK", "a", "c"}, `agg_sum keys=2 shards=2 | 97/1: UNLINK a @[0] | 99/0: UNLINK c @[1]`},
		{"not splittable", []string{"MSETNX", "a", "1", "b", "2"}, ""},
		{"single-key command", []string{"GET", "a"}, ""},
		{"no keys", []string{"MGET"}, ""},
		{"mset without a value", []string{"MSET", "a", "1", "b"}, ""},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p Plan
			ok := Split(resp.NewCommand(tc.args...), byFirstByte, &p)
			if tc.want == "" {
				if ok || len(p.Parts) != 0 {
					t.Fatalf("Split = %v, %s; want false and no parts", ok, describe(&p))
				}
				return
			}
			if !ok {
				t.Fatal("Split = false")
			}
			if got := describe(&p); got != tc.want {
				t.Errorf("plan\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestSplitManyGroups splits commands with more groups than Split looks through one by
// one, then smaller and bigger ones with the same Plan: nothing of a split may leak into
// the next.
func TestSplitManyGroups(t *testing.T) {
	t.Parallel()
	var p Plan
	for _, n := range []int{200, 3, 1000, 20, 1} {
		args := []string{"MSET"}
		for i := range n {
			args = append(args, fmt.Sprintf("key:%d", i), fmt.Sprintf("v%d", i))
		}
		cmd := resp.NewCommand(args...)
		if !Split(cmd, clusterLocate, &p) {
			t.Fatalf("%d keys: not split", n)
		}
		if p.Keys != n {
			t.Fatalf("Keys = %d, want %d", p.Keys, n)
		}
		// Every key appears once, with its value, in the part of its group, and Pos
		// leads back to it.
		seen := make([]bool, n)
		groups := map[int]bool{}
		shards := map[int]bool{}
		for _, pt := range p.Parts {
			if groups[pt.Group] {
				t.Fatalf("group %d has two parts", pt.Group)
			}
			groups[pt.Group], shards[pt.Shard] = true, true
			if len(pt.Cmd.Args) != 1+2*len(pt.Pos) || string(pt.Cmd.Args[0]) != "MSET" {
				t.Fatalf("part %s has %d positions", resp.Command{Args: pt.Cmd.Args}, len(pt.Pos))
			}
			for j, k := range pt.Pos {
				key, val := pt.Cmd.Args[1+2*j], pt.Cmd.Args[2+2*j]
				if string(key) != args[1+2*k] || string(val) != args[2+2*k] {
					t.Fatalf("Pos %d of part %d is %s=%s, want %s=%s", k, pt.Group, key, val, args[1+2*k], args[2+2*k])
				}
				if g, s := clusterLocate(key); g != pt.Group || s != pt.Shard {
					t.Fatalf("%s in the part of %d/%d, locate says %d/%d", key, pt.Group, pt.Shard, g, s)
				}
				if j > 0 && pt.Pos[j-1] >= k {
					t.Fatalf("part %d out of key order: %v", pt.Group, pt.Pos)
				}
				seen[k] = true
			}
		}
		for k, ok := range seen {
			if !ok {
				t.Fatalf("key %d in no part", k)
			}
		}
		if len(p.Parts) != len(groups) || p.Shards != len(shards) {
			t.Errorf("%d parts, %d shards; want %d and %d", len(p.Parts), p.Shards, len(groups), len(shards))
		}
	}
}

func TestSplitAllocs(t *testing.T) {
	cmd := mget(10)
	for _, tc := range []struct {
		name   string
		locate func([]byte) (int, int)
	}{{"ketama", ketamaLocate}, {"cluster", clusterLocate}} {
		var p Plan
		Split(cmd, tc.locate, &p)
		if n := testing.AllocsPerRun(100, func() { Split(cmd, tc.locate, &p) }); n != 0 {
			t.Errorf("%s: %v allocations per split, want 0", tc.name, n)
		}
	}
	args := [][]byte{[]byte("MGET"), []byte("a")}
	if n := testing.AllocsPerRun(100, func() { Splittable(args) }); n != 0 {
		t.Errorf("Splittable: %v allocations", n)
	}
}

func mget(n int) resp.Command {
	args := []string{"MGET"}
	for i := range n {
		args = append(args, fmt.Sprintf("user:%d", i))
	}
	return resp.NewCommand(args...)
}

// BenchmarkSplit splits MGET of 10 keys, as the router's fan-out does for each such
// command: over a shard set of 3 servers (group = server) and over a cluster of 3
// primaries (group = hash slot, so up to 10 parts).
func BenchmarkSplit(b *testing.B) {
	cmd := mget(10)
	for _, bc := range []struct {
		name   string
		locate func([]byte) (int, int)
	}{{"MGET10/3shards", ketamaLocate}, {"MGET10/cluster", clusterLocate}} {
		b.Run(bc.name, func(b *testing.B) {
			var p Plan
			b.ReportAllocs()
			for b.Loop() {
				Split(cmd, bc.locate, &p)
			}
			b.ReportMetric(float64(len(p.Parts)), "parts")
		})
	}
}
