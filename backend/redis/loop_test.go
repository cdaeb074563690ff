package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

// loopCtx returns a context that carries an event loop of a running proxy server, so
// that the backend serves its connection on that loop (loop mode). Call it before
// newBackend, so that the backend is closed before the server stops.
func loopCtx(t testing.TB) context.Context {
	t.Helper()
	loops := make(chan *proxy.Loop, 1)
	h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		select {
		case loops <- req.Conn().Loop():
		default:
		}
		w.WriteReply(resp.OK)
	})
	srv := proxytest.NewServer(t, h, proxy.WithEventLoops(1))
	proxytest.Dial(t, srv.Addr()).Do("PING")
	return backend.WithLoop(session(1), <-loops)
}

func TestLoopPipelineOrder(t *testing.T) {
	t.Parallel()
	ctx := loopCtx(t)
	s := redistest.Start(t)
	b := newBackend(t, redis.Config{Addr: s.Addr(), WarmIdle: -1}) // no connections dialled ahead: counted below
	const n = 10000
	got := make(chan string, n)
	for range n { // the first commands wait for the loop's connection, none fails
		b.Send(ctx, resp.NewCommand("INCR", "k"), func(v resp.Value, err error) {
			got <- fmt.Sprint(string(v.Raw), err)
		})
	}
	for i := 1; i <= n; i++ {
		select {
		case r := <-got:
			if want := fmt.Sprintf(":%d\r\n<nil>", i); r != want {
				t.Fatalf("reply %d = %q, want %q", i, r, want)
			}
		case <-time.After(wait):
			t.Fatalf("reply %d: none within %v", i, wait)
		}
	}
	if st := b.Stats(); st.Conns != 3 || st.ConnsUp != 3 || st.Waiting != 0 {
		t.Errorf("stats %+v: want the 2 shared connections and the loop's, all up, none waiting", st)
	}
}

func TestLoopServerKilledMidPipeline(t *testing.T) {
	t.Parallel()
	ctx := loopCtx(t)
	s := redistest.Start(t)
	const n = 20000
	// Every command may wait at once: the test queues them faster than the loop sends.
	b := newBackend(t, redis.Config{Addr: s.Addr(), MaxPending: n, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	eventually(t, b, ctx)
	var (
		wg                    sync.WaitGroup
		calls, replies, fails atomic.Int64
		order                 sync.Mutex
		lastReply, firstFail  = 0, 0
	)
	kill := make(chan struct{})
	wg.Add(n)
	for i := 1; i <= n; i++ {
		b.Send(ctx, resp.NewCommand("INCR", "k"), func(v resp.Value, err error) {
			defer wg.Done()
			calls.Add(1)
			order.Lock()
			defer order.Unlock()
			if err != nil {
				if !errors.Is(err, backend.ErrConnLost) && !errors.Is(err, backend.ErrUnavailable) {
					t.Errorf("command %d: %v", i, err)
				}
				if fails.Add(1) == 1 {
					firstFail = i
				}
				return
			}
			if want := fmt.Sprintf(":%d\r\n", i); string(v.Raw) != want {
				t.Errorf("command %d: reply %q, want %q", i, v.Raw, want)
			}
			lastReply = i
			if replies.Add(1) == 1000 {
				close(kill)
			}
		})
	}
	select {
	case <-kill:
	case <-time.After(wait):
		t.Fatalf("only %d replies within %v", replies.Load(), wait)
	}
	s.Kill()
	waitGroup(t, &wg, "callbacks after Kill")
	if calls.Load() != n {
		t.Fatalf("%d callbacks, want %d", calls.Load(), n)
	}
	if fails.Load() > 0 && firstFail <= lastReply {
		t.Errorf("command %d failed before command %d was answered: replies out of order", firstFail, lastReply)
	}
	s.Restart()
	eventually(t, b, ctx)
	if st := b.Stats(); st.Reconnects < 1 {
		t.Errorf("stats %+v: want a reconnect", st)
	}
}

func TestLoopCommandTimeout(t *testing.T) {
	t.Parallel()
	ctx := loopCtx(t)
	s := startBusy(t)
	b := newBackend(t, redis.Config{Addr: s.Addr(), CommandTimeout: 100 * time.Millisecond})
	eventually(t, b, ctx)
	slowServer(t, b, ctx, func() { killScript(t, s) })
}

func TestLoopCloseInFlight(t *testing.T) {
	t.Parallel()
	ctx := loopCtx(t)
	s := redistest.Start(t)
	b, err := redis.New(redis.Config{Addr: s.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, b, ctx)
	const n = 5000
	var wg sync.WaitGroup
	var calls atomic.Int64
	wg.Add(n)
	for range n {
		b.Send(ctx, resp.NewCommand("PING"), func(resp.Value, error) {
			calls.Add(1)
			wg.Done()
		})
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitGroup(t, &wg, "callbacks after Close")
	if calls.Load() != n {
		t.Fatalf("%d callbacks, want %d", calls.Load(), n)
	}
	if _, err := do(t, b, ctx, "PING"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("PING after Close: %v, want ErrClosed", err)
	}
}
