package router_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// TestLongScript: a script that runs long delays no other client's commands, even on
// the same event loop: they get the server's -BUSY at once, as from Redis directly,
// SCRIPT KILL ends the script, and the script's own client keeps the order of its
// commands around it.
func TestLongScript(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t, redistest.Args("--busy-reply-threshold", "10"))
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr(), Logger: testLogger(t, "backend")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := proxytest.NewServer(t, router.New(b), proxy.WithEventLoops(1), proxy.WithLogger(testLogger(t, "proxy")))
	ctx := testCtx(t)
	a := newClient(t, srv.Addr(), nil)
	other := newClient(t, srv.Addr(), nil)

	// Order kept around scripts: each EVAL sees the SET before it, the GET after it
	// sees the EVAL's write.
	cmds, err := a.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 20 {
			p.Set(ctx, "k", i, 0)
			p.Eval(ctx, "return redis.call('incr', KEYS[1])", []string{"k"})
			p.Get(ctx, "k")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if got, want := result(cmds[3*i+1])+" "+result(cmds[3*i+2]), fmt.Sprintf("%d %d", i+1, i+1); got != want {
			t.Fatalf("round %d: EVAL and GET = %q", i, got)
		}
	}

	done := make(chan error, 1)
	go func() { done <- a.Eval(ctx, "while true do end", nil).Err() }()
	start := time.Now()
	var busy error
	for {
		busy = other.Ping(ctx).Err()
		if busy != nil && strings.HasPrefix(busy.Error(), "BUSY") {
			break
		}
		if busy != nil || time.Since(start) > wait {
			t.Fatalf("PING while a script runs: %v, want -BUSY", busy)
		}
	}
	if err := other.ScriptKill(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT KILL: %v", err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the killed script: %v", err)
	}
	if got, err := a.Get(ctx, "k").Result(); err != nil || got != "20" {
		t.Errorf("GET after the script = %q, %v", got, err)
	}
}

// TestErrorsNameNoServer: a client told of a transport error (the server down, here)
// reads the error's kind, not the server's address, which is for the log.
func TestErrorsNameNoServer(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr(), Logger: testLogger(t, "backend")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := proxytest.NewServer(t, router.New(b), proxy.WithLogger(testLogger(t, "proxy")))
	c := proxytest.Dial(t, srv.Addr())
	if v := c.Do("SET", "k", "v"); v.IsError() {
		t.Fatal(v)
	}
	s.Kill()
	for {
		v := c.Do("GET", "k")
		if !v.IsError() {
			continue // the reply of a connection not yet seen down
		}
		if got := string(v.Str); got != "ERR backend unavailable" && got != "ERR backend connection lost" {
			t.Fatalf("GET with the server down: %q, want the error's kind alone", got)
		}
		if strings.Contains(string(v.Str), "127.0.0.1") {
			t.Fatalf("the error names the server: %q", v.Str)
		}
		return
	}
}
