package router_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/redchain/redchain/proxy/proxytest"
)

// TestSharedPathAllocations guards what BenchmarkProxyGETPipeline16 shows: the shared
// path (parsing, the chain, the router, the backend's queue, the reply ring, encoding)
// allocates nothing per command. GETs pipelined 16 at a time through the proxy to a real
// Redis may allocate per wake-up of the loop (gnet's task for a batch sent to Redis, two
// allocations) and for the process's own timers, never once per command: the bound is one
// allocation per 4 commands, which a single allocation per command anywhere on the path
// would pass fourfold.
func TestSharedPathAllocations(t *testing.T) {
	conn := proxytest.Dial(t, getProxy(t)).Conn()

	const depth = 16
	req := bytes.Repeat([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), depth)
	reply := bytes.Repeat([]byte("$5\r\nvalue\r\n"), depth)
	buf := make([]byte, 64<<10)
	round := func() {
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		got := 0
		for got < len(reply) {
			n, err := conn.Read(buf[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		if !bytes.Equal(buf[:got], reply) {
			t.Fatalf("replies %q, want %q", buf[:got], reply)
		}
	}
	for range 100 { // the connections up, the buffers grown
		round()
	}
	const rounds = 1000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range rounds {
		round()
	}
	runtime.ReadMemStats(&after)
	commands := uint64(rounds * depth)
	if allocs := after.Mallocs - before.Mallocs; allocs > commands/4 {
		t.Errorf("%d allocations for %d commands: more than one per 4 commands", allocs, commands)
	}
}
