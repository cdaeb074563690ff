package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/redistest"
)

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
	at, logs := clitest.Start(t, run)
	addr := at.proxy.String()
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
	at, _ := clitest.Start(t, run, "-upstream", srv.Addr())
	addr := at.proxy.String()
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
	at, _ := clitest.Start(t, run, "-metrics-addr", "127.0.0.1:0", "-pprof-addr", "127.0.0.1:0")
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
	at, logs := clitest.Start(t, run)
	if at.metrics != nil || at.pprof != nil {
		t.Errorf("metrics at %v, pprof at %v without the flags: want neither", at.metrics, at.pprof)
	}
	if strings.Contains(logs.String(), "serving") {
		t.Errorf("the log mentions an HTTP server without the flags:\n%s", logs)
	}
}

// TestOwnConnCap: -max-own-conns caps the server connections clients hold of their own,
// and -metrics-addr reports them.
func TestOwnConnCap(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	at, _ := clitest.Start(t, run, "-upstream", srv.Addr(), "-max-own-conns", "1", "-metrics-addr", "127.0.0.1:0")
	ctx := context.Background()
	blocked := goredis.NewClient(&goredis.Options{Addr: at.proxy.String(), Protocol: 2})
	defer blocked.Close()
	popped := make(chan error, 1)
	go func() { popped <- blocked.BLPop(ctx, 0, "q").Err() }()
	// Wait until the first BLPOP holds the one connection (the gauge says so).
	url := "http://" + at.metrics.String() + "/metrics"
	deadline := time.Now().Add(10 * time.Second)
	for !regexp.MustCompile(`(?m)^redchain_own_connections(\{[^}]*\})? 1$`).MatchString(get(t, url)) {
		if time.Now().After(deadline) {
			t.Fatalf("no connection of its own held after 10s:\n%s", get(t, url))
		}
		time.Sleep(10 * time.Millisecond)
	}
	other := goredis.NewClient(&goredis.Options{Addr: at.proxy.String(), Protocol: 2, MaxRetries: -1})
	defer other.Close()
	err := other.BLPop(ctx, 0, "q2").Err()
	if err == nil || !strings.Contains(err.Error(), "max number of server connections of their own reached (1 in total)") {
		t.Fatalf("second BLPOP: %v, want the refusal", err)
	}
	if m := get(t, url); !regexp.MustCompile(`(?m)^redchain_own_connections_refused_total\{[^}]*redchain_own_connections_cap="total"[^}]*\} 1$`).MatchString(m) {
		t.Errorf("metrics do not count the refusal:\n%s", m)
	}
	if err := srv.Client().RPush(ctx, "q", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-popped; err != nil {
		t.Fatalf("the first BLPOP: %v", err)
	}
}
