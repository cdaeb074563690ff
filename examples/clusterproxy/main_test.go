package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
)

func TestClusterProxy(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	seeds := c.Seeds()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"primary", []string{"-cluster", strings.Join(seeds[:2], ",")}},
		{"replica", []string{"-cluster", seeds[0], "-read-from", "replica", "-allow", "127.0.0.1:*",
			"-addr-map", "10.9.9.9:7000=" + seeds[0], "-max-shards", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, logs := clitest.Start(t, run, tc.args...)
			p := goredis.NewClient(&goredis.Options{Addr: at.String(), Protocol: 2, DisableIndentity: true})
			defer p.Close()
			ctx := context.Background()
			for i := range 100 {
				k := tc.name + ":" + strconv.Itoa(i)
				if err := p.Set(ctx, k, i, 0).Err(); err != nil {
					t.Fatalf("SET %s: %v", k, err)
				}
				if v, err := c.Client().Get(ctx, k).Int(); err != nil || v != i {
					t.Fatalf("the cluster has %s = %d, %v", k, v, err)
				}
			}
			if tc.name == "primary" {
				if v, err := p.Get(ctx, "primary:7").Int(); err != nil || v != 7 {
					t.Fatalf("GET = %d, %v", v, err)
				}
			}
			// The fan-out splits a cross-slot MSET and MGET; MSETNX cannot be split.
			k1, k2 := redistest.KeyInSlot(0), redistest.KeyInSlot(9000)
			if err := p.MSet(ctx, k1, 1, k2, 2).Err(); err != nil {
				t.Fatalf("cross-slot MSET: %v", err)
			}
			if v, err := p.MGet(ctx, k2, k1).Result(); err != nil || fmt.Sprint(v) != "[2 1]" {
				t.Fatalf("cross-slot MGET = %v, %v", v, err)
			}
			err := p.MSetNX(ctx, k1, 1, k2, 2).Err()
			if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
				t.Fatalf("cross-slot MSETNX: %v", err)
			}
			if !strings.Contains(logs.String(), "shards=3") {
				t.Errorf("the log does not give the shards:\n%s", logs)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, "-cluster is required"},
		{[]string{"-cluster", "127.0.0.1:1", "-upstream", "127.0.0.1:2"}, "-upstream is not used"},
		{[]string{"-cluster", "127.0.0.1:1", "-addr-map", "a"}, "want FROM=TO"},
		{[]string{"-cluster", "127.0.0.1:1", "-addr-map", "a=b"}, "AddrMap"},
		{[]string{"-cluster", "127.0.0.1:1", "-allow", "host"}, "Allow"},
		{[]string{"-cluster", "127.0.0.1:1", "-read-from", "any"}, "-read-from"},
		{[]string{"-cluster", "127.0.0.1:1", "-max-shards", "-1"}, "-max-shards"},
	} {
		err := run(context.Background(), append([]string{"-listen", "127.0.0.1:0"}, tc.args...), io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.err)
		}
	}
	if _, o, err := parse([]string{"-cluster", " a:1 , b:2 ", "-addr-map", "x:1=y:1, z:2=w:2", "-allow", "y:*"}, io.Discard); err != nil ||
		len(o.seeds) != 2 || o.addrMap["z:2"] != "w:2" || o.allow[0] != "y:*" {
		t.Errorf("parse: %+v, %v", o, err)
	}
}

// setGet50 sets 50 keys through r and reads each back through its client-side cache.
func setGet50(t *testing.T, r rueidis.Client) {
	t.Helper()
	ctx := context.Background()
	for i := range 50 {
		k := "k" + strconv.Itoa(i)
		if err := r.Do(ctx, r.B().Set().Key(k).Value("v").Build()).Error(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if v, err := r.DoCache(ctx, r.B().Get().Key(k).Cache(), time.Minute).ToString(); err != nil || v != "v" {
			t.Fatalf("GET %s = %q, %v", k, v, err)
		}
	}
}

// notOnNodes fails the test if a node of c has a connection of the client called name.
func notOnNodes(t *testing.T, c *redistest.Cluster, name string) {
	t.Helper()
	for _, n := range c.Nodes() {
		list, err := n.Client().ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(list, "name="+name+" ") {
			t.Errorf("node %s has a connection of the client:\n%s", n, list)
		}
	}
}

// TestClientsStayOnTheProxy: a cluster-aware client (rueidis, default options: it asks
// for the slot map and would connect to the nodes it names) sees one standalone Redis
// and never connects to a node of the cluster behind the proxy.
func TestClientsStayOnTheProxy(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	at, _ := clitest.Start(t, run, "-cluster", c.Seeds()[0])
	const name = "stay-on-the-proxy"
	r, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{at.String()}, ClientName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	setGet50(t, r)
	info, err := r.Do(ctx, r.B().Info().Build()).ToString()
	if err != nil || !strings.Contains(info, "redis_mode:standalone") || !strings.Contains(info, "cluster_enabled:0") {
		t.Errorf("INFO through the proxy (%v):\n%s", err, info)
	}
	if err := r.Do(ctx, r.B().ClusterSlots().Build()).Error(); err == nil || !strings.Contains(err.Error(), "cluster support disabled") {
		t.Errorf("CLUSTER SLOTS through the proxy: %v, want a standalone server's refusal", err)
	}
	// rueidis's connection carries CLIENT TRACKING, so its commands go on connections
	// of its own, one per node; its whole-keyspace commands are merged all the same.
	if n, err := r.Do(ctx, r.B().Dbsize().Build()).AsInt64(); err != nil || n != 50 {
		t.Errorf("DBSIZE = %d, %v", n, err)
	}
	notOnNodes(t, c, name)
}

// TestPresentCluster: two proxies started with -present-cluster present themselves as a
// Redis Cluster: rueidis (default options) spreads its commands over both proxies and
// never connects to a node of the cluster behind them.
func TestPresentCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	tier := strings.Join(addrs, ",")
	for _, a := range addrs {
		clitest.Start(t, run, "-listen", a, "-cluster", c.Seeds()[0], "-present-cluster", tier)
	}
	const name = "tier-client"
	r, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs[:1], ClientName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if nodes := r.Nodes(); len(nodes) != 2 {
		t.Fatalf("rueidis sees nodes %v, want the 2 proxies", slices.Collect(maps.Keys(nodes)))
	}
	setGet50(t, r)
	for _, a := range addrs {
		p := goredis.NewClient(&goredis.Options{Addr: a, Protocol: 2, DisableIndentity: true})
		list, err := p.ClientList(ctx).Result()
		info, ierr := p.Info(ctx, "server", "cluster").Result()
		p.Close()
		if err != nil || !strings.Contains(list, "name="+name+" ") {
			t.Errorf("proxy %s has no connection of the client (%v):\n%s", a, err, list)
		}
		if ierr != nil || !strings.Contains(info, "redis_mode:cluster") || !strings.Contains(info, "cluster_enabled:1") {
			t.Errorf("proxy %s INFO (%v):\n%s", a, ierr, info)
		}
	}
	notOnNodes(t, c, name)
}

// TestTrackingRedirect: in front of a one-node cluster, CLIENT TRACKING REDIRECT names
// another client of the proxy, which gets the invalidations.
func TestTrackingRedirect(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.Primaries(1), redistest.Replicas(0))
	at, _ := clitest.Start(t, run, "-cluster", c.Seeds()[0])
	ctx := context.Background()
	inval := proxytest.Dial(t, at.String())
	id := inval.Do("CLIENT", "ID").Int
	if v := inval.Do("SUBSCRIBE", "__redis__:invalidate"); v.IsError() {
		t.Fatal(v)
	}
	tracked := goredis.NewClient(&goredis.Options{Addr: at.String(), Protocol: 2, DisableIndentity: true, PoolSize: 1})
	defer tracked.Close()
	conn := tracked.Conn()
	defer conn.Close()
	if err := conn.Do(ctx, "CLIENT", "TRACKING", "on", "REDIRECT", id).Err(); err != nil {
		t.Fatalf("CLIENT TRACKING on REDIRECT %d: %v", id, err)
	}
	if err := conn.Get(ctx, "tracked").Err(); err != goredis.Nil {
		t.Fatal(err)
	}
	if err := conn.Set(ctx, "tracked", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if m := inval.Read().String(); !strings.Contains(m, "invalidate") || !strings.Contains(m, "tracked") {
		t.Errorf("invalidation %s", m)
	}
}
