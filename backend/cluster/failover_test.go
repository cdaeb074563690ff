package cluster_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/redistest"
)

// writeLoad is several clients writing through a proxy: each SET of a key of its own
// (spread over every slot) and each INCR of its client's counter that is acknowledged
// is recorded, so that the test can check that none was lost.
type writeLoad struct {
	clients int
	stop    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	acked    []ackedWrite
	incrs    []int // acknowledged INCRs per client
	tried    []int // INCRs sent per client
	failures []time.Time
	slowFail time.Duration // the longest a failed write took
	lastErr  error
}

type ackedWrite struct {
	key, value string
	at         time.Time
}

func startLoad(t *testing.T, p *goredis.Client, clients int) *writeLoad {
	l := &writeLoad{clients: clients, stop: make(chan struct{}), incrs: make([]int, clients), tried: make([]int, clients)}
	for g := range clients {
		l.wg.Go(func() { l.run(p, g) })
	}
	t.Cleanup(l.halt)
	return l
}

func (l *writeLoad) run(p *goredis.Client, g int) {
	ctx := context.Background()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		key, val := fmt.Sprintf("w:%d:%d", g, i), strconv.Itoa(i)
		start := time.Now()
		err := p.Set(ctx, key, val, 0).Err()
		took := time.Since(start)
		l.mu.Lock()
		l.tried[g]++
		if err == nil {
			l.acked = append(l.acked, ackedWrite{key, val, time.Now()})
		} else {
			l.failures = append(l.failures, start)
			l.slowFail = max(l.slowFail, took)
			l.lastErr = err
		}
		l.mu.Unlock()
		err = p.Incr(ctx, "ctr:"+strconv.Itoa(g)).Err()
		l.mu.Lock()
		if err == nil {
			l.incrs[g]++
		}
		l.mu.Unlock()
	}
}

func (l *writeLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// ackedSince returns how many writes were acknowledged after at.
func (l *writeLoad) ackedSince(at time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.acked {
		if a.at.After(at) {
			n++
		}
	}
	return n
}

// waitAcked waits until n writes were acknowledged after at.
func (l *writeLoad) waitAcked(t *testing.T, n int, at time.Time) {
	t.Helper()
	poll(t, wait, func() string {
		if got := l.ackedSince(at); got < n {
			l.mu.Lock()
			defer l.mu.Unlock()
			return fmt.Sprintf("%d writes acknowledged since %v, want %d (last error %v)", got, at.Format(time.StampMilli), n, l.lastErr)
		}
		return ""
	})
}

// report logs the failures, and returns the acknowledged writes missing from the
// cluster: those acknowledged before since and after.
func (l *writeLoad) check(t *testing.T, c *redistest.Cluster, since time.Time) (lostBefore, lostAfter int) {
	t.Helper()
	ctx := context.Background()
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := c.Client()
	pipe := cl.Pipeline()
	cmds := make([]*goredis.StringCmd, len(l.acked))
	for i, a := range l.acked {
		cmds[i] = pipe.Get(ctx, a.key)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
		t.Fatalf("reading the writes back: %v", err)
	}
	for i, a := range l.acked {
		if v, err := cmds[i].Result(); err != nil || v != a.value {
			if a.at.After(since) {
				lostAfter++
				t.Errorf("write %s=%s acknowledged at %v (after %v) is lost: %q, %v",
					a.key, a.value, a.at.Format(time.StampMilli), since.Format(time.StampMilli), v, err)
			} else {
				lostBefore++
			}
		}
	}
	for g := range l.clients {
		v, err := cl.Get(ctx, "ctr:"+strconv.Itoa(g)).Int()
		if err != nil && err != goredis.Nil {
			t.Fatalf("GET ctr:%d: %v", g, err)
		}
		if v > l.tried[g] {
			t.Errorf("ctr:%d = %d, more than the %d INCRs sent", g, v, l.tried[g])
		}
		if v < l.incrs[g] {
			t.Logf("ctr:%d = %d, less than the %d INCRs acknowledged", g, v, l.incrs[g])
		}
	}
	return lostBefore, lostAfter
}

// outage returns how many writes failed, and the time from the first failure (or from)
// to the last.
func (l *writeLoad) outage(from time.Time) (n int, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) == 0 {
		return 0, 0
	}
	first, last := l.failures[0], l.failures[0]
	for _, f := range l.failures {
		first, last = minTime(first, f), maxTime(last, f)
	}
	if !from.IsZero() {
		first = from
	}
	return len(l.failures), last.Sub(first)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// failuresAfter returns how many writes that started after at failed.
func (l *writeLoad) failuresAfter(at time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, f := range l.failures {
		if f.After(at) {
			n++
		}
	}
	return n
}

// TestFailover runs CLUSTER FAILOVER under a steady write load through a proxy: no
// acknowledged write is lost, and the proxy serves every slot afterwards without a
// restart.
func TestFailover(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	b := newBackend(t, cluster.Config{Seeds: c.Seeds()})
	p := proxyFor(t, b)
	l := startLoad(t, p, 8)
	l.waitAcked(t, 300, time.Time{})

	primary := c.PrimaryOf(0)
	replica := c.ReplicasOf(primary)[0]
	began := time.Now()
	c.Failover(t, replica)
	ended := time.Now()
	if c.PrimaryOf(0) != replica {
		t.Fatalf("slot 0 is served by %v, want %v", c.PrimaryOf(0), replica)
	}
	l.waitAcked(t, 500, ended)
	l.halt()

	n, d := l.outage(time.Time{})
	t.Logf("CLUSTER FAILOVER took %v; %d writes failed over %v (the longest failure took %v; last error %v); %d acknowledged",
		ended.Sub(began).Round(time.Millisecond), n, d.Round(time.Millisecond), l.slowFail.Round(time.Millisecond), l.lastErr, len(l.acked))
	if got := b.NodeFor(0); got != replica.Addr() {
		t.Errorf("NodeFor(0) = %s, want the new primary %s", got, replica.Addr())
	}
	if lostBefore, lostAfter := l.check(t, c, time.Time{}); lostBefore+lostAfter != 0 {
		t.Errorf("%d acknowledged writes lost", lostBefore+lostAfter)
	}
	if got := l.failuresAfter(ended.Add(time.Second)); got != 0 {
		t.Errorf("%d writes failed more than 1s after the failover ended", got)
	}
	t.Logf("counters %+v", b.Counters())
}

// TestKillPrimary kills a primary with SIGKILL under a steady write load through a
// proxy: once its replica is promoted, the proxy serves every slot again without a
// restart, and no write acknowledged after the promotion is lost. Writes acknowledged
// by the old primary just before it died may be lost by Redis's asynchronous
// replication; they are counted.
func TestKillPrimary(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.NodeTimeout(time.Second))
	b := newBackend(t, cluster.Config{Seeds: c.Seeds()})
	p := proxyFor(t, b)
	l := startLoad(t, p, 8)
	l.waitAcked(t, 300, time.Time{})

	victim := c.PrimaryOf(0)
	heir := c.ReplicasOf(victim)[0]
	killed := time.Now()
	victim.Kill()
	c.WaitHealthy(t)
	healed := time.Now()
	if c.PrimaryOf(0) != heir {
		t.Fatalf("slot 0 is served by %v, want %v", c.PrimaryOf(0), heir)
	}
	l.waitAcked(t, 500, healed)
	l.halt()

	n, d := l.outage(killed)
	lostBefore, lostAfter := l.check(t, c, healed)
	t.Logf("the cluster promoted the replica %v after the kill; %d writes failed, the last %v after the kill (the longest failure took %v; last error %v); %d acknowledged; %d lost (acknowledged before the promotion), %d lost after",
		healed.Sub(killed).Round(time.Millisecond), n, d.Round(time.Millisecond), l.slowFail.Round(time.Millisecond), l.lastErr, len(l.acked), lostBefore, lostAfter)
	if l.slowFail > 2*time.Second {
		t.Errorf("a failed write took %v: failures should be fast", l.slowFail)
	}
	if got := l.failuresAfter(healed.Add(time.Second)); got != 0 {
		t.Errorf("%d writes failed more than 1s after the promotion", got)
	}
	if got := b.NodeFor(0); got != heir.Addr() {
		t.Errorf("NodeFor(0) = %s, want the new primary %s", got, heir.Addr())
	}
	t.Logf("counters %+v", b.Counters())
}
