package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// bigReplies is a handler whose every reply is a bulk string of n bytes; it counts the
// commands it served.
func bigReplies(n int, served *atomic.Int64) proxy.Handler {
	val := bytes.Repeat([]byte{'v'}, n)
	return proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
		served.Add(1)
		w.WriteReply(resp.Bulk(val))
	})
}

// pipeline sends n GETs without reading, from a client whose socket takes little, so
// that its replies wait in the proxy.
func pipeline(t *testing.T, addr string, n int) *proxytest.Client {
	t.Helper()
	c := proxytest.Dial(t, addr)
	if err := c.Conn().(*net.TCPConn).SetReadBuffer(256 << 10); err != nil {
		t.Fatal(err)
	}
	c.WriteRaw([]byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", n)))
	return c
}

// waitFor polls cond until it holds, failing the test after proxytest.Timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(proxytest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readAll reads replies of size bytes until n came or the connection ended, and
// returns how many came.
func readAll(t *testing.T, c *proxytest.Client, n, size int) int {
	t.Helper()
	for i := range n {
		v, err := c.ReadBefore(time.Now().Add(proxytest.Timeout))
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || err != nil && strings.Contains(err.Error(), "reset") {
			return i
		}
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if v.Type != resp.TypeBulkString || len(v.Str) != size {
			t.Fatalf("reply %d: %s, want a bulk of %d bytes", i, v.Type, size)
		}
	}
	return n
}

// TestMemoryBudget checks that over the client memory budget one client, the one that
// holds the most, is closed, and only it: another goes on, and so does one that reads
// its replies.
func TestMemoryBudget(t *testing.T) {
	const mib = 1 << 20
	var served atomic.Int64
	srv := proxytest.NewServer(t, bigReplies(mib, &served),
		proxy.WithMaxMemoryClients(32*mib), proxy.WithMaxOutbound(0))
	well := proxytest.Dial(t, srv.Addr())
	if v := well.Do("PING"); v.Type != resp.TypeBulkString {
		t.Fatalf("PING: %v", v)
	}

	// The first client's replies wait in the proxy, under the budget...
	first := pipeline(t, srv.Addr(), 24)
	waitFor(t, "the first client's replies to pile up", func() bool { return srv.Stats().ClientMemory >= 16*mib })
	// ...until a second one's take the sum over it: the first, which holds the most, is
	// closed.
	second := pipeline(t, srv.Addr(), 24)
	waitFor(t, "an eviction", func() bool { return srv.Stats().ClientsEvicted > 0 })

	// Which of the two held the most when the sum crossed the budget depends on how much
	// each socket took meanwhile: exactly one of them is closed, the other served.
	a, b := readAll(t, first, 24, mib), readAll(t, second, 24, mib)
	if (a == 24) == (b == 24) {
		t.Errorf("the two clients got %d and %d replies of 24: want one closed and the other served all", a, b)
	}
	if v := well.Do("GET", "k"); len(v.Str) != mib {
		t.Errorf("the well-behaved client got %s", v.Type)
	}
	st := srv.Stats()
	if st.ClientsEvicted != 1 {
		t.Errorf("%d clients evicted, want 1", st.ClientsEvicted)
	}
	waitFor(t, "the budget's count to fall back", func() bool { return srv.Stats().ClientMemory < 4*mib })
}

// TestMaxOutboundCountsInFlight checks that a client that pipelines commands with big
// replies and does not read is not served more of them than MaxOutbound of replies
// (and a first burst while its replies' size is not known), rather than having all
// their replies pile up; and that it then gets every reply, in order, once it reads.
func TestMaxOutboundCountsInFlight(t *testing.T) {
	const size, limit, n = 512 << 10, 8 << 20, 200
	var served atomic.Int64
	srv := proxytest.NewServer(t, bigReplies(size, &served), proxy.WithMaxOutbound(limit))
	c := pipeline(t, srv.Addr(), n)
	waitFor(t, "the first commands to be served", func() bool { return served.Load() >= 16 })

	// At most: the first burst (64, until replies show their size), then MaxOutbound of
	// replies, plus what the sockets took (little: the client's receive buffer is small,
	// a few MiB for the proxy's send buffer).
	const most = 64 + limit/size + (8<<20)/size
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := served.Load(); got > most {
			t.Fatalf("%d commands served to a client that reads nothing, want at most %d", got, most)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := readAll(t, c, n, size); got != n {
		t.Fatalf("got %d replies, want %d", got, n)
	}
}
