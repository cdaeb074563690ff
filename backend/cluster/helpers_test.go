package cluster_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

// wait bounds every wait of these tests: a test that hangs fails instead.
const wait = 15 * time.Second

// newBackend returns cluster.New(cfg), closed when the test ends.
func newBackend(t testing.TB, cfg cluster.Config) *cluster.Backend {
	t.Helper()
	b, err := cluster.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// do sends one command through b and waits for its reply, encoded as RESP, or its
// error.
func do(t testing.TB, b backend.Backend, args ...string) (string, error) {
	t.Helper()
	return doCtx(t, context.Background(), b, args...)
}

func doCtx(t testing.TB, ctx context.Context, b backend.Backend, args ...string) (string, error) {
	t.Helper()
	type result struct {
		reply string
		err   error
	}
	ch := make(chan result, 1)
	b.Send(ctx, resp.NewCommand(args...), func(v resp.Value, err error) {
		ch <- result{string(v.AppendTo(nil)), err}
	})
	select {
	case r := <-ch:
		return r.reply, r.err
	case <-time.After(wait):
		t.Fatalf("%v: no reply within %v", args, wait)
		return "", nil
	}
}

// mustDo is do that fails the test on an error or an error reply.
func mustDo(t testing.TB, b backend.Backend, args ...string) string {
	t.Helper()
	r, err := do(t, b, args...)
	if err != nil || strings.HasPrefix(r, "-") {
		t.Fatalf("%q: %q, %v", args, r, err)
	}
	return r
}

// proxyFor starts a proxy in front of b and returns a go-redis client of it, speaking
// RESP2, without retries: every failure is seen.
func proxyFor(t testing.TB, b backend.Backend) *goredis.Client {
	t.Helper()
	srv := proxytest.NewServer(t, router.New(b))
	c := goredis.NewClient(&goredis.Options{
		Addr: srv.Addr(), Protocol: 2, MaxRetries: -1,
		ReadTimeout: wait, WriteTimeout: wait, PoolSize: 32,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// poll calls cond until it returns "", or fails the test with what it last returned
// after d. The interval is polling, not synchronisation.
func poll(t testing.TB, d time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		problem := cond()
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, problem)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer is a log sink a test reads while the backend writes it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count returns how many lines hold every one of subs.
func (l *logBuffer) count(subs ...string) int {
	n := 0
	for line := range strings.SplitSeq(l.String(), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

func (l *logBuffer) logger(level hclog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: l, Level: level})
}

// keyOnShard returns a key that b places on shard i.
func keyOnShard(t testing.TB, b *cluster.Backend, i int) string {
	t.Helper()
	for n := range 100000 {
		k := "onshard:" + strconv.Itoa(n)
		if _, s := b.Locate([]byte(k)); s == i {
			return k
		}
	}
	t.Fatalf("no key on shard %d", i)
	return ""
}
