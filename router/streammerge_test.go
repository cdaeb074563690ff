package router_test

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// TestStreamsOverShards: through three servers (a shard set, a cluster of three
// primaries), MONITOR shows every server's commands, and a replica's SYNC gets one
// server's replication stream: a snapshot of every server's keys, then every
// server's commands in the order they ran, one SELECT first, a transaction whole.
func TestStreamsOverShards(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) backend.ShardTunneler
	}{
		{"shard", func(t *testing.T) backend.ShardTunneler {
			b, _ := startShards(t, 3)
			return b
		}},
		{"cluster", func(t *testing.T) backend.ShardTunneler {
			c := redistest.StartCluster(t, redistest.Primaries(3))
			b, err := cluster.New(cluster.Config{Seeds: c.Seeds(), Redis: redisbackend.Config{Logger: testLogger(t, "backend")}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testStreamsOverShards(t, tc.open(t))
		})
	}
}

func testStreamsOverShards(t *testing.T, b backend.ShardTunneler) {
	srv := proxytest.NewServer(t, router.New(b, router.WithFanout(router.FanoutConfig{})), proxy.WithLogger(testLogger(t, "proxy")))
	keys := make([]string, 3) // a key of each server
	for i := 0; slices.Contains(keys, ""); i++ {
		k := "key" + strconv.Itoa(i)
		if _, s := b.Locate([]byte(k)); keys[s] == "" {
			keys[s] = k
		}
	}
	other := proxytest.Dial(t, srv.Addr())
	do := func(args ...string) {
		t.Helper()
		if v := other.Do(args...); v.IsError() {
			t.Fatalf("%q: %s", args, reply(v))
		}
	}

	// MONITOR shows the commands of every server.
	mon := proxytest.Dial(t, srv.Addr())
	if got := reply(mon.Do("MONITOR")); got != "+OK\r\n" {
		t.Fatalf("MONITOR = %q", got)
	}
	for _, k := range keys {
		do("SET", k, "seen")
	}
	var sets []string // the proxy's own connections show up too (CLIENT ID as they open)
	for len(sets) < len(keys) {
		if line := reply(mon.Read()); strings.Contains(line, `"SET"`) {
			sets = append(sets, line)
		}
	}
	for i, k := range keys {
		if !strings.Contains(sets[i], `"SET" "`+k+`" "seen"`) {
			t.Errorf("MONITOR showed %q, want the SET of %s", sets[i], k)
		}
	}
	mon.Conn().Close()

	do("SET", keys[0], "x")
	do("SET", keys[1], "y")
	c := proxytest.Dial(t, srv.Addr())
	c.WriteRaw([]byte("SYNC\r\n"))
	r := bufio.NewReader(c.Conn())
	count, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(count, "$") {
		t.Fatalf("SYNC: %q, %v; want the RDB's length", count, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(count[1:]))
	if err != nil {
		t.Fatal(err)
	}
	rdb := make([]byte, n)
	if _, err := io.ReadFull(r, rdb); err != nil || !strings.HasPrefix(string(rdb), "REDIS") {
		t.Fatalf("RDB payload of %d bytes: %q..., %v", n, rdb[:min(n, 9)], err)
	}
	// The merged snapshot is a valid RDB file with every server's keys: a server of its
	// own loads it.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "merged.rdb"), rdb, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := redistest.Start(t, redistest.Args("--dir", dir, "--dbfilename", "merged.rdb")).Client()
	for k, want := range map[string]string{keys[0]: "x", keys[1]: "y", keys[2]: "seen"} {
		if got, err := loaded.Get(t.Context(), k).Result(); got != want || err != nil {
			t.Errorf("GET %s from the loaded snapshot = %q, %v; want %q", k, got, err, want)
		}
	}

	do("SET", keys[0], "a")
	do("SET", keys[1], "b")
	do("SET", keys[2], "c")
	do("MULTI")
	do("SET", keys[1], "1")
	do("INCR", keys[1])
	do("EXEC")
	want := []string{
		"select 0",
		"set " + keys[0] + " a", "set " + keys[1] + " b", "set " + keys[2] + " c",
		"multi", "set " + keys[1] + " 1", "incr " + keys[1], "exec",
	}
	var got []string
	var p resp.CommandParser
	var buf []byte
	chunk := make([]byte, 4096)
	for len(got) < len(want) {
		m, err := r.Read(chunk)
		if err != nil {
			t.Fatalf("replication stream so far %q: %v", got, err)
		}
		buf = append(buf, chunk[:m]...)
		for {
			cmd, k, err := p.Parse(buf)
			if err != nil {
				t.Fatalf("replication stream: %v", err)
			}
			if k == 0 {
				break
			}
			buf = buf[k:]
			line := strings.ToLower(string(cmd.Args[0]))
			for _, a := range cmd.Args[1:] {
				line += " " + string(a)
			}
			if line != "ping" {
				got = append(got, line)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("replication stream:\n got %q\nwant %q", got, want)
	}
}

// TestReplicaofEveryShard: REPLICAOF through a shard set demotes and promotes every
// server, as it would the one server the proxy presents: never a part of the keyspace.
func TestReplicaofEveryShard(t *testing.T) {
	t.Parallel()
	b, servers := startShards(t, 3)
	srv := proxytest.NewServer(t, router.New(b, router.WithFanout(router.FanoutConfig{})))
	c := proxytest.Dial(t, srv.Addr())
	for _, tc := range []struct{ args, role string }{{"localhost 9", "role:slave"}, {"NO ONE", "role:master"}} {
		if v := c.Do(append([]string{"REPLICAOF"}, strings.Fields(tc.args)...)...); v.IsError() {
			t.Fatalf("REPLICAOF %s: %s", tc.args, reply(v))
		}
		for i, s := range servers {
			if info := s.Client().Info(t.Context(), "replication").Val(); !strings.Contains(info, tc.role) {
				t.Errorf("after REPLICAOF %s, server %d is not %s", tc.args, i, tc.role)
			}
		}
	}
}
