package cluster_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/redistest"
)

// TestAnnounce runs a cluster whose first primary announces a port it does not listen
// on, as a node behind NAT would: an address map makes it reachable, an allow-list
// refuses it loudly, and without either its slots fail fast and it is dialled with
// backoff only.
func TestAnnounce(t *testing.T) {
	t.Parallel()
	// The announced port: a listener that counts the connections it gets, until the
	// last subtest closes it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			nc.Close()
		}
	}()
	fake := ln.Addr().String()
	c := redistest.StartCluster(t, redistest.AnnouncePort(0, ln.Addr().(*net.TCPAddr).Port))
	node0 := c.Nodes()[0]
	// A slot of node 0, and one of each other primary.
	own := redistest.KeyInSlot(100)
	others := []string{redistest.KeyInSlot(6000), redistest.KeyInSlot(12000)}
	if c.PrimaryOf(100) != node0 || c.PrimaryOf(6000) == node0 || c.PrimaryOf(12000) == node0 {
		t.Fatal("unexpected slot map")
	}

	t.Run("Allow", func(t *testing.T) {
		var logs logBuffer
		b := newBackend(t, cluster.Config{
			Seeds: c.Seeds()[1:],
			Allow: append([]string{"localhost:*"}, c.Seeds()[1:]...),
			Redis: redis.Config{Logger: logs.logger(hclog.Debug)},
			// Frequent refreshes: the refused node is logged once all the same.
			RefreshInterval: 100 * time.Millisecond, MinRefreshInterval: 10 * time.Millisecond,
		})
		p := proxyFor(t, b)
		if _, err := do(t, b, "GET", own); !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("GET of a refused node's slot: %v; want ErrUnavailable", err)
		}
		if err := p.Set(context.Background(), own, "x", 0).Err(); err == nil || err.Error() != "ERR backend unavailable" {
			t.Fatalf("proxy SET of a refused node's slot: %v; want ERR backend unavailable", err)
		}
		for _, k := range others {
			mustDo(t, b, "SET", k, "v")
			if v, err := p.Get(context.Background(), k).Result(); err != nil || v != "v" {
				t.Fatalf("proxy GET %s = %q, %v", k, v, err)
			}
		}
		poll(t, wait, func() string {
			if n := b.Counters().Refreshes; n < 5 {
				return "refreshes: " + strconv.Itoa(int(n))
			}
			return ""
		})
		if n := logs.count("[WARN]", "not in the allow-list", fake); n != 1 {
			t.Errorf("the refused node was logged %d times, want once:\n%s", n, logs.String())
		}
		// Every dial logs at Debug level: "connected" or "connect failed" from the node
		// backend, "node did not answer" from a refresh. (The listener cannot tell:
		// node 0's replica connects to the address its primary announces.)
		if n := logs.count(fake); n != 1 {
			t.Errorf("the refused address is in %d lines of the log, want 1 (the warning):\n%s", n, logs.String())
		}
		t.Logf("the announced port got %d connections (from node 0's replica)", accepted.Load())
	})

	t.Run("AddrMap", func(t *testing.T) {
		b := newBackend(t, cluster.Config{
			Seeds:   c.Seeds()[1:],
			AddrMap: map[string]string{fake: node0.Addr()},
		})
		p := proxyFor(t, b)
		for _, k := range append([]string{own}, others...) {
			if err := p.Set(context.Background(), k, "m", 0).Err(); err != nil {
				t.Fatalf("proxy SET %s: %v", k, err)
			}
			if r := mustDo(t, b, "GET", k); r != "$1\r\nm\r\n" {
				t.Fatalf("GET %s = %q", k, r)
			}
		}
		if got := b.NodeFor(100); got != node0.Addr() {
			t.Fatalf("NodeFor(100) = %s, want %s", got, node0.Addr())
		}
		if v, err := node0.Client().Get(context.Background(), own).Result(); err != nil || v != "m" {
			t.Fatalf("node 0 has %s = %q, %v", own, v, err)
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		ln.Close() // the announced port refuses connections from now on
		var logs logBuffer
		b := newBackend(t, cluster.Config{
			Seeds: c.Seeds()[1:],
			Redis: redis.Config{Logger: logs.logger(hclog.Debug)},
		})
		p := proxyFor(t, b)
		start := time.Now()
		sent := 0
		for time.Since(start) < time.Second {
			t0 := time.Now()
			_, err := do(t, b, "GET", own)
			if !errors.Is(err, backend.ErrUnavailable) {
				t.Fatalf("GET of an unreachable node's slot: %v, want ErrUnavailable", err)
			}
			if d := time.Since(t0); d > 100*time.Millisecond {
				t.Fatalf("GET of an unreachable node's slot took %v: it should fail fast", d)
			}
			if err := p.Get(context.Background(), own).Err(); err == nil || !strings.Contains(err.Error(), "unavailable") {
				t.Fatalf("proxy GET of an unreachable node's slot: %v", err)
			}
			for _, k := range others {
				mustDo(t, b, "GET", k)
			}
			sent++
		}
		dials := logs.count("connect failed", fake)
		t.Logf("%d commands for the unreachable node in 1s; it was dialled %d times", 2*sent, dials)
		if dials == 0 || dials > 40 {
			t.Errorf("the unreachable node was dialled %d times in 1s: want a few (backoff)", dials)
		}
	})
}
