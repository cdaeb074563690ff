package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
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

// start runs the example with args until the test ends, and returns its proxy address.
func start(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	at, logs := startAll(t, args...)
	return at.proxy.String(), logs
}

// startAll runs the example with args until the test ends, and returns its addresses.
func startAll(t *testing.T, args ...string) (addrs, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	addrc := make(chan addrs, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), logs, func(a addrs) { addrc <- a })
	}()
	var at addrs
	select {
	case at = <-addrc:
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
	return at, logs
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

// get fetches url without keeping the connection, and returns the body.
func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", url, res.StatusCode, err)
	}
	return string(body)
}

func TestMetricsAndPprof(t *testing.T) {
	t.Parallel()
	at, _ := startAll(t, "-metrics-addr", "127.0.0.1:0", "-pprof-addr", "127.0.0.1:0")
	if at.metrics == nil || at.pprof == nil {
		t.Fatalf("metrics at %v, pprof at %v: want both", at.metrics, at.pprof)
	}
	setGet(t, at.proxy.String())
	metrics := get(t, "http://"+at.metrics.String()+"/metrics")
	for _, want := range []string{
		`db_client_operation_duration_seconds_count{`,
		`db_operation_name="get"`,
		`db_operation_name="set"`,
		`redchain_server_connections`,
		`redchain_backend_connections`,
		`redchain_backend_name="upstream"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, metrics)
		}
	}
	if body := get(t, "http://"+at.pprof.String()+"/debug/pprof/"); !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ does not list profiles:\n%s", body)
	}
}

func TestNoHTTPByDefault(t *testing.T) {
	t.Parallel()
	at, logs := startAll(t)
	if at.metrics != nil || at.pprof != nil {
		t.Errorf("metrics at %v, pprof at %v without the flags: want neither", at.metrics, at.pprof)
	}
	if strings.Contains(logs.String(), "serving") {
		t.Errorf("the log mentions an HTTP server without the flags:\n%s", logs)
	}
}
