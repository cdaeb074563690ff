package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redchain/redchain/middleware/ratelimit"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// These tests measure the limiter against a real redis-server, with INCR, so that the
// server's counter says how many commands got through.

// TestMeasureReject: at 100/s with a burst of 10, a client that sends 1,000 commands
// evenly over 2 s gets about 10 + 100 × 2 = 210 through; the rest are refused.
func TestMeasureReject(t *testing.T) {
	t.Parallel()
	const (
		n        = 1000
		rate     = 100
		burst    = 10
		interval = 2 * time.Millisecond
	)
	rdb, srv := redisStack(t, newLimiter(t, ratelimit.Config{Rate: rate, Burst: burst, Per: ratelimit.IP}))
	c := proxytest.Dial(t, srv.Addr())
	incr := resp.NewCommand("INCR", "passed").AppendTo(nil)

	// The sender writes on the schedule (sleeping is the workload here, not
	// synchronisation) while this goroutine reads the replies as they come.
	type sent struct {
		elapsed time.Duration
		err     error
	}
	done := make(chan sent, 1)
	go func() {
		start := time.Now()
		for i := range n {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			if _, err := c.Conn().Write(incr); err != nil {
				done <- sent{err: err}
				return
			}
		}
		done <- sent{elapsed: time.Since(start)}
	}()

	passed, refused := 0, 0
	for i := range n {
		v := c.Read()
		switch {
		case v.Type == resp.TypeInteger:
			passed++
			if v.Int != int64(passed) {
				t.Fatalf("reply %d: INCR gave %d, want %d: out of order", i, v.Int, passed)
			}
		case render(v) == "-ERR rate limit exceeded: 100/s burst 10 per ip":
			refused++
		default:
			t.Fatalf("reply %d: %s, want an integer or the refusal", i, render(v))
		}
	}
	s := <-done
	if s.err != nil {
		t.Fatalf("send: %v", s.err)
	}
	want := burst + rate*s.elapsed.Seconds()
	t.Logf("%d commands over %v: %d through, %d refused (about %.0f expected)", n, s.elapsed.Round(time.Millisecond), passed, refused, want)
	// The bounds follow the time the sending really took (a loaded machine stretches
	// it); for 2 s they are 168..257.
	if lo, hi := 0.8*want, 1.2*want+5; float64(passed) < lo || float64(passed) > hi {
		t.Errorf("%d through, want %.0f..%.0f", passed, lo, hi)
	}
	if got, err := rdb.Client().Get(context.Background(), "passed").Result(); err != nil || got != strconv.Itoa(passed) {
		t.Errorf("redis counts %q (%v), the client saw %d through", got, err, passed)
	}
}

// TestMeasureDelay: in Delay mode every command of a pipeline gets through, in order, and
// n commands at rate r with burst b take at least (n-b)/r.
func TestMeasureDelay(t *testing.T) {
	t.Parallel()
	const (
		n     = 110
		rate  = 100
		burst = 10
	)
	_, srv := redisStack(t, newLimiter(t, ratelimit.Config{
		Rate: rate, Burst: burst, Per: ratelimit.Conn, Mode: ratelimit.Delay, MaxDelay: time.Second,
	}))
	c := proxytest.Dial(t, srv.Addr())
	cmds := make([][]string, n)
	for i := range cmds {
		cmds[i] = []string{"INCR", "delayed"}
	}
	start := time.Now()
	c.Send(cmds...)
	for i := range n {
		if v := c.Read(); v.Type != resp.TypeInteger || v.Int != int64(i+1) {
			t.Fatalf("reply %d: %s, want :%d", i, render(v), i+1)
		}
	}
	elapsed := time.Since(start)
	floor := time.Duration(float64(n-burst)/rate*float64(time.Second)) - 50*time.Millisecond
	t.Logf("%d commands at %d/s burst %d: %v (at least %v)", n, rate, burst, elapsed.Round(time.Millisecond), floor)
	if elapsed < floor {
		t.Errorf("took %v, want at least %v: the limiter let commands through too fast", elapsed, floor)
	}
}
