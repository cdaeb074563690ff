package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
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

// TestBigReplyReaderGone: a client that resets its connection in the middle of a big
// reply, which goes straight to its socket, is closed like any other, without copying
// the rest anywhere, and the proxy and its other clients go on. Not parallel: it
// measures the whole process.
func TestBigReplyReaderGone(t *testing.T) {
	const size = 64 << 20
	srv := proxytest.NewServer(t, proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if !req.Is("get") {
			w.WriteReply(resp.Pong)
			return
		}
		header := fmt.Appendf(nil, "$%d\r\n", size)
		frame := make([]byte, len(header)+size+2)
		copy(frame, header)
		copy(frame[len(frame)-2:], "\r\n")
		w.WriteReply(resp.RawOwned(frame))
	}))
	other := proxytest.Dial(t, srv.Addr())
	if v := other.Do("PING"); v.IsError() {
		t.Fatalf("PING: %v", v)
	}
	runtime.GC()
	before := retained()
	c := proxytest.Dial(t, srv.Addr())
	c.Send([]string{"GET", "k"})
	if _, err := io.ReadFull(c.Conn(), make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn().(*net.TCPConn).SetLinger(0) // close with a reset
	c.Conn().Close()
	deadline := time.Now().Add(proxytest.Timeout)
	for srv.Stats().Conns != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d client connections open, want 1: the reset one was not closed", srv.Stats().Conns)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v := other.Do("PING"); v.String() != resp.Pong.String() {
		t.Errorf("PING on another connection: %v", v)
	}
	// The reply was held once, by the handler's frame: not copied into a buffer as the
	// socket refused it.
	if grown := retained() - before; grown > size+16<<20 {
		t.Errorf("the heap grew %d MiB for a %d MiB reply: it was copied", grown>>20, size>>20)
	}
}
