package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}

// syncBuffer is a log sink the test can read while the proxy writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the example with args until the test ends, and returns its address.
func start(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), logs, func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("run: %v\n%s", err, logs)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run returned %v", err)
		}
		if !strings.Contains(logs.String(), "stopped") {
			t.Errorf("no graceful stop in the log:\n%s", logs)
		}
	})
	return addr.String(), logs
}

// burst pipelines n INCRs and returns how many went through and how many were refused.
func burst(t *testing.T, addr string, n int) (passed, refused int) {
	t.Helper()
	c := proxytest.Dial(t, addr)
	cmds := make([][]string, n)
	for i := range cmds {
		cmds[i] = []string{"INCR", "n"}
	}
	c.Send(cmds...)
	for i := range n {
		v := c.Read()
		switch {
		case v.Type == resp.TypeInteger:
			passed++
		case v.IsError() && strings.HasPrefix(string(v.Str), "ERR rate limit exceeded"):
			refused++
		default:
			t.Fatalf("reply %d: %s", i, v)
		}
	}
	return passed, refused
}

// TestRejectBurst: a burst over the limit gets some errors.
func TestRejectBurst(t *testing.T) {
	t.Parallel()
	addr, logs := start(t, "-rate", "10", "-burst", "5", "-per", "ip", "-mode", "reject")
	passed, refused := burst(t, addr, 50)
	if passed < 5 || refused == 0 {
		t.Errorf("50 pipelined INCRs at 10/s burst 5: %d through, %d refused; want at least 5 through and some refused", passed, refused)
	}
	for _, want := range []string{"embedded", "listening", "per=ip", "mode=reject"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
}

// TestDelay: in delay mode a small burst over the limit all goes through.
func TestDelay(t *testing.T) {
	t.Parallel()
	addr, _ := start(t, "-rate", "200", "-burst", "5", "-per", "conn", "-mode", "delay", "-max-delay", "1s")
	if passed, refused := burst(t, addr, 20); passed != 20 || refused != 0 {
		t.Errorf("20 pipelined INCRs in delay mode: %d through, %d refused; want all through", passed, refused)
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-per", "host"},
		{"-mode", "wait"},
		{"-rate", "0"},
		{"-burst", "0"},
	} {
		if err := run(context.Background(), args, &syncBuffer{}, nil); err == nil {
			t.Errorf("run %v succeeded, want an error", args)
		}
	}
}
