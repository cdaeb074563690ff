package shard

import (
	"fmt"
	"strings"
	"testing"
)

// The pools of testdata/twemproxy_golden.sh.
var (
	goldenNamed = Config{Servers: []Server{
		{Name: "alpha", Addr: "127.0.0.1:17001", Weight: 1},
		{Name: "beta", Addr: "127.0.0.1:17002", Weight: 2},
		{Name: "gamma", Addr: "127.0.0.1:17003", Weight: 1},
	}}
	goldenUnnamed = Config{NoHashTag: true, Servers: []Server{
		{Addr: "127.0.0.1:17001"}, {Addr: "127.0.0.1:17002"}, {Addr: "127.0.0.1:17003"},
	}}
)

func ring(t testing.TB, cfg Config) *Backend {
	t.Helper()
	b, err := newRing(cfg)
	if err != nil {
		t.Fatalf("newRing: %v", err)
	}
	return b
}

// TestGoldenTwemproxy pins placements to those nutcracker chose for the same servers:
// a change to the continuum, the hash or the tag rule breaks compatibility and this test.
func TestGoldenTwemproxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    Config
		golden []struct {
			key    string
			server int
		}
		bulk string
	}{
		{"named weighted tagged", goldenNamed, namedGolden, namedBulk},
		{"unnamed", goldenUnnamed, unnamedGolden, unnamedBulk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := ring(t, tc.cfg)
			for _, g := range tc.golden {
				if got := b.Shard([]byte(g.key)) + 1; got != g.server {
					t.Errorf("Shard(%q) = server %d, twemproxy: %d", g.key, got, g.server)
				}
			}
			if len(tc.bulk) != 1000 {
				t.Fatalf("bulk golden has %d keys", len(tc.bulk))
			}
			var got strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&got, "%d", b.Shard(fmt.Appendf(nil, "key:%d", i))+1)
			}
			if got.String() != tc.bulk {
				for i := range 1000 {
					if got.String()[i] != tc.bulk[i] {
						t.Errorf("key:%d on server %c, twemproxy: %c", i, got.String()[i], tc.bulk[i])
					}
				}
			}
		})
	}
}

func TestContinuumPoints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		weights []int
		want    []int // points per server
	}{
		{"equal", []int{1, 1, 1}, []int{160, 160, 160}},
		{"weighted", []int{1, 2, 1}, []int{120, 240, 120}},
		{"one", []int{5}, []int{160}},
		{"uneven", []int{1, 1, 1, 4}, []int{88, 88, 88, 364}}, // floor(40 × 4 × w/7) × 4
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg Config
			for i, w := range tc.weights {
				cfg.Servers = append(cfg.Servers, Server{Addr: fmt.Sprintf("10.0.0.%d:6379", i), Weight: w})
			}
			b := ring(t, cfg)
			got := make([]int, len(tc.weights))
			for i, p := range b.points {
				got[p.server]++
				if i > 0 && b.points[i-1].value > p.value {
					t.Fatalf("continuum not sorted at %d", i)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("points per server = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFNV1a64(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key  string
		want uint32
	}{
		{"", 0x84222325},     // the 64-bit offset basis, truncated
		{"a", 0x8601ec8c},    // (0x84222325 ^ 'a') * 0x1b3 mod 2^32
		{"\xff", 0x79fe466e}, // signed char: 0xff mixes in as 0xffffffff, not 0xff (0x8602eb6e)
	} {
		if got := FNV1a64([]byte(tc.key)); got != tc.want {
			t.Errorf("FNV1a64(%q) = %#x, want %#x", tc.key, got, tc.want)
		}
	}
}

func TestHashTagRule(t *testing.T) {
	t.Parallel()
	b := ring(t, goldenNamed)
	for _, tc := range []struct{ key, hashed string }{
		{"{user1}.a", "user1"},
		{"x{user1}{y}", "user1"},
		{"{}.a", "{}.a"},     // empty tag: the whole key
		{"{user1", "{user1"}, // no closing brace
		{"a}{b}", "b"},       // the first '{', the next '}'
		{"}{", "}{"},
		{"{{a}}", "{a"},
	} {
		if got := string(b.tag([]byte(tc.key))); got != tc.hashed {
			t.Errorf("tag(%q) = %q, want %q", tc.key, got, tc.hashed)
		}
	}
	custom := goldenNamed
	custom.HashTag = "::"
	if got := string(ring(t, custom).tag([]byte("a:b:c"))); got != "b" {
		t.Errorf(`tag "::" of "a:b:c" = %q, want "b"`, got)
	}
	off := goldenNamed
	off.NoHashTag = true
	if got := string(ring(t, off).tag([]byte("{a}b"))); got != "{a}b" {
		t.Errorf("NoHashTag: tag = %q", got)
	}
}

// TestShardedPlacement checks the backend.Sharded view of a shard set: one shard per
// server, and Locate is Shard twice, without allocating (fan-out calls it per key).
func TestShardedPlacement(t *testing.T) {
	b := ring(t, goldenNamed)
	if b.Shards() != 3 {
		t.Fatalf("Shards = %d, want 3", b.Shards())
	}
	for _, g := range namedGolden {
		if grp, s := b.Locate([]byte(g.key)); grp != g.server-1 || s != g.server-1 {
			t.Errorf("Locate(%q) = %d, %d; twemproxy's server is %d", g.key, grp, s, g.server-1)
		}
	}
	k := []byte("user:1000")
	if n := testing.AllocsPerRun(100, func() { b.Locate(k) }); n != 0 {
		t.Errorf("Locate: %v allocations", n)
	}
}
