package router_test

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/backend/shard"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// TestStreamsOverShards: through three servers (a shard set, a cluster of three
// primaries), MONITOR shows every server's commands, and a replica's SYNC gets one
// server's replication stream: the snapshot of the one server holding keys, then every
// server's commands in the order they ran, one SELECT first, a transaction whole. With
// keys on two servers, whose snapshots would have to be merged, SYNC is refused.
func TestStreamsOverShards(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) backend.ShardTunneler
	}{
		{"shard", func(t *testing.T) backend.ShardTunneler {
			var cfg shard.Config
			for i := range 3 {
				cfg.Servers = append(cfg.Servers, shard.Server{Name: fmt.Sprintf("redis%d", i), Addr: redistest.Start(t).Addr()})
			}
			b, err := shard.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
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
	do("SET", keys[1], "x")
	c := proxytest.Dial(t, srv.Addr())
	c.WriteRaw([]byte("SYNC\r\n"))
	if got := reply(c.Read()); !strings.HasPrefix(got, "-ERR redchain: SYNC over several shards") {
		t.Fatalf("SYNC with keys on two servers = %q, want a refusal", got)
	}
	expectClosed(t, c)

	do("FLUSHALL")
	do("SET", keys[2], "held")
	c = proxytest.Dial(t, srv.Addr())
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
	if !strings.Contains(string(rdb), keys[2]) {
		t.Errorf("the snapshot lacks %s, the one key, held by the third server", keys[2])
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
