package proxy_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// retained returns the heap memory the process holds from the system: what it uses,
// its garbage, and what it keeps for later, but not what it gave back. (Not RSS: with
// -race, the race detector's shadow of that memory stays resident.)
func retained() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapSys - ms.HeapReleased)
}

// TestMemoryGivenBack checks that a client that sent 200 MB of a 512 MB argument costs
// one buffer of the announced size, as in Redis (of which only what was sent is
// touched, and so resident), not a buffer doubled step by step with each step garbage;
// and that its memory is given back to the system once it goes away: within 10 s the
// heap the process retains is within 64 MiB of what it was before. Not parallel: it
// measures the whole process.
func TestMemoryGivenBack(t *testing.T) {
	srv := proxytest.NewServer(t, proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
		w.WriteReply(resp.OK)
	}))
	if v := proxytest.Dial(t, srv.Addr()).Do("PING"); v.IsError() {
		t.Fatalf("PING: %v", v)
	}
	runtime.GC()
	idle := retained()
	const sent, announced = 200 << 20, 512 << 20
	c := proxytest.Dial(t, srv.Addr())
	c.WriteRaw([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n"))
	chunk := make([]byte, 1<<20)
	for range sent / len(chunk) {
		c.WriteRaw(chunk)
	}
	// Wait until the proxy has read it all (the heap it uses has grown by that much),
	// then go away.
	deadline := time.Now().Add(proxytest.Timeout)
	var ms runtime.MemStats
	for runtime.ReadMemStats(&ms); ms.HeapAlloc < uint64(sent); runtime.ReadMemStats(&ms) {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy holds %d MiB, want the %d MiB sent", ms.HeapAlloc>>20, sent>>20)
		}
		time.Sleep(5 * time.Millisecond)
	}
	holding := retained()
	c.Conn().Close()
	start := time.Now()
	deadline = start.Add(10 * time.Second)
	now := retained()
	for ; now > idle+64<<20 && time.Now().Before(deadline); now = retained() {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("heap retained: idle %d MiB, holding %d MiB of a bulk %d MiB, %v after the client left %d MiB",
		idle>>20, holding>>20, sent>>20, time.Since(start).Round(time.Millisecond), now>>20)
	if growth := holding - idle; growth > announced+64<<20 {
		t.Errorf("holding %d MiB of a %d MiB argument costs %d MiB: want one buffer of its size", sent>>20, announced>>20, growth>>20)
	}
	if now > idle+64<<20 {
		t.Errorf("%d MiB retained 10 s after the client left, %d MiB before: want within 64 MiB", now>>20, idle>>20)
	}
}
