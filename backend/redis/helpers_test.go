package redis_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...) // loop mode runs proxy servers
}

// wait bounds every wait of these tests: a test that hangs fails instead.
const wait = 10 * time.Second

// newBackend returns a backend for cfg that logs to the test and is closed at its end.
func newBackend(t testing.TB, cfg redis.Config) *redis.Backend {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Info})
	}
	b, err := redis.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// testWriter sends log lines to t.Log. The backend's goroutines end in Close, which runs
// in a cleanup, before the test completes.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// syncBuffer is a bytes.Buffer for logs written from other goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// do sends one command and waits for its result; the reply is copied.
func do(t testing.TB, b backend.Backend, ctx context.Context, args ...string) (string, error) {
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
		t.Fatalf("%q: no reply within %v", args, wait)
		return "", nil
	}
}

// eventually sends PING with ctx (so over the connection of its session) until it is
// answered +PONG, and fails the test if that does not happen within the bounded wait.
func eventually(t testing.TB, b backend.Backend, ctx context.Context) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		reply, err := do(t, b, ctx, "PING")
		if err == nil && reply == "+PONG\r\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend did not recover within %v: last PING gave %q, %v", wait, reply, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// waitGroup waits for wg within the bounded wait.
func waitGroup(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() {
		wg.Wait()
		close(ch)
	}()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("%s: not done within %v", what, wait)
	}
}

// session returns a context of session id.
func session(id uint64) context.Context {
	return backend.WithSession(context.Background(), id)
}
