package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/internal/redistest"
)

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
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), logs, func(a net.Addr) { addrc <- a.String() })
	}()
	var addr string
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
	return addr, logs
}

func setGet(t *testing.T, addr string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := c.Get(ctx, "a").Result(); err != nil || v != "1" {
		t.Fatalf("GET = %q, %v; want 1", v, err)
	}
}

func TestEmbeddedDefault(t *testing.T) {
	t.Parallel()
	addr, logs := start(t)
	setGet(t, addr)
	for _, want := range []string{"embedded", "listening"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
}

func TestUpstream(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	addr, _ := start(t, "-upstream", srv.Addr())
	setGet(t, addr)
	if v, err := srv.Client().Get(context.Background(), "a").Result(); err != nil || v != "1" {
		t.Fatalf("the real server has a=%q (%v), want 1", v, err)
	}
}
