package redis

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy/resp"
)

// Backend sends commands to one Redis server over a few shared, pipelined connections.
// Create it with [New]. Its methods are safe for concurrent use.
type Backend struct {
	cfg   Config
	log   hclog.Logger
	hello []resp.Command // AUTH and SELECT, run on each new connection
	conns []*conn
	rr    atomic.Uint64 // round-robin counter for commands without a session

	reconnects atomic.Uint64 // connections made again after one broke

	// Connections on event loops (loop.go), one per backend.Loop, made on first use.
	lconns sync.Map // backend.Loop -> *conn
	lmu    sync.Mutex
	nloops atomic.Int64

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every goroutine of the backend
	closeOnce sync.Once

	// The errors Send reports, wrapped with the address once for all.
	errClosed, errUnavailable, errBusy, errTimeout error
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.StatsReporter = (*Backend)(nil)
)

// Stats reports the backend's connections, waiting commands and reconnections. Safe
// from any goroutine.
func (b *Backend) Stats() backend.Stats {
	st := backend.Stats{Reconnects: b.reconnects.Load()}
	for _, c := range b.all() {
		st.Conns++
		c.mu.Lock()
		if c.state == stateUp {
			st.ConnsUp++
		}
		st.Waiting += c.queue.len()
		c.mu.Unlock()
	}
	return st
}

// New validates cfg and returns a backend for the server at cfg.Addr. It makes one
// connection attempt per connection (bounded by DialTimeout) before it returns, so that
// a reachable server takes commands at once, but a server that is down is no error:
// the connections keep trying in the background, and Send fails with
// backend.ErrUnavailable meanwhile. New returns an error only for an invalid cfg.
func New(cfg Config) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, log: cfg.Logger.Named("redis").With("addr", cfg.Addr)}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	wrap := func(err error) error { return fmt.Errorf("redis %s: %w", cfg.Addr, err) }
	b.errClosed = wrap(backend.ErrClosed)
	b.errUnavailable = wrap(backend.ErrUnavailable)
	b.errBusy = wrap(backend.ErrBusy)
	b.errTimeout = wrap(backend.ErrTimeout)
	switch {
	case cfg.Username != "":
		b.hello = append(b.hello, resp.NewCommand("AUTH", cfg.Username, cfg.Password))
	case cfg.Password != "":
		b.hello = append(b.hello, resp.NewCommand("AUTH", cfg.Password))
	}
	if cfg.DB != 0 {
		b.hello = append(b.hello, resp.NewCommand("SELECT", strconv.Itoa(cfg.DB)))
	}
	if cfg.ReadOnly {
		b.hello = append(b.hello, resp.NewCommand("READONLY"))
	}

	var first sync.WaitGroup // each connection's first attempt
	first.Add(cfg.Conns)
	for i := range cfg.Conns {
		c := &conn{b: b, log: b.log.With("conn", i), wake: make(chan struct{}, 1)}
		b.conns = append(b.conns, c)
		b.wg.Add(1)
		go c.run(first.Done)
	}
	if cfg.CommandTimeout > 0 {
		b.wg.Add(1)
		go b.watch()
	}
	first.Wait()
	return b, nil
}

// Send queues cmd on the connection of ctx's session and returns without waiting; done
// gets the reply, borrowed until it returns, or an error (see the package doc). ctx only
// carries the session: a command once queued cannot be withdrawn from a pipeline, so
// cancellation is not observed. Send is safe from any goroutine.
func (b *Backend) Send(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) {
	if reply, refused := refuse(cmd); refused {
		done(reply, nil)
		return
	}
	if lp, ok := backend.LoopFrom(ctx); ok {
		if err := b.loopConn(lp).send(cmd, done); err != nil {
			done(resp.Value{}, err)
		}
		return
	}
	id, ok := backend.SessionFrom(ctx)
	if !ok {
		id = b.rr.Add(1)
	}
	if err := b.conns[id%uint64(len(b.conns))].send(cmd, done); err != nil {
		done(resp.Value{}, err)
	}
}

// Close fails the waiting commands with backend.ErrClosed, closes the connections, and
// returns once every goroutine of the backend has ended. Later Sends fail with ErrClosed.
// It always returns nil; calling it again does nothing. It must not be called from a
// callback of this backend.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.lmu.Lock() // no loop connection is made after this
		for _, c := range b.all() {
			c.close()
		}
		b.lmu.Unlock()
		b.wg.Wait()
		b.log.Debug("closed")
	})
	return nil
}

// watch takes down connections whose server has answered nothing for CommandTimeout
// while commands wait.
func (b *Backend) watch() {
	defer b.wg.Done()
	timeout := b.cfg.CommandTimeout
	t := time.NewTicker(min(max(timeout/10, time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case now := <-t.C:
			for _, c := range b.all() {
				c.checkTimeout(now, timeout)
			}
		}
	}
}

// all returns every connection: the fixed ones and those on event loops.
func (b *Backend) all() []*conn {
	all := append([]*conn(nil), b.conns...)
	b.lconns.Range(func(_, c any) bool {
		all = append(all, c.(*conn))
		return true
	})
	return all
}

// backoff returns how long to wait before reconnection attempt number attempt (0 for
// the first after a disconnection): MinBackoff doubled attempt times, at most
// MaxBackoff, less a random part of up to half.
func (b *Backend) backoff(attempt int) time.Duration {
	d := b.cfg.MinBackoff
	for range attempt {
		if d >= b.cfg.MaxBackoff {
			break
		}
		d *= 2
	}
	d = min(d, b.cfg.MaxBackoff)
	return d - rand.N(d/2+1)
}

// sleep waits d and reports true, or false if the backend was closed meanwhile.
func (b *Backend) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}

// notShared lists the commands Send refuses (see the package doc), upper case.
var notShared = map[string]bool{
	"SELECT": true, "AUTH": true, "HELLO": true, "RESET": true, "QUIT": true,
	"SUBSCRIBE": true, "PSUBSCRIBE": true, "SSUBSCRIBE": true, "UNSUBSCRIBE": true,
	"PUNSUBSCRIBE": true, "SUNSUBSCRIBE": true, "MONITOR": true,
	"SYNC": true, "PSYNC": true, "MULTI": true, "EXEC": true, "DISCARD": true,
	"WATCH": true, "UNWATCH": true,
	"CLIENT": true, // only CLIENT REPLY, checked below
	// Blocking commands would stall every session behind them on the connection.
	"BLPOP": true, "BRPOP": true, "BRPOPLPUSH": true, "BLMOVE": true, "BLMPOP": true,
	"BZPOPMIN": true, "BZPOPMAX": true, "BZMPOP": true, "WAIT": true, "WAITAOF": true,
}

var errEmpty = resp.Error("ERR", "empty command")

// refuse returns the error reply for a command that must not go over a shared
// connection, or an empty command, which Redis would not answer.
func refuse(cmd resp.Command) (resp.Value, bool) {
	if len(cmd.Args) == 0 {
		return errEmpty, true
	}
	name := cmd.Args[0]
	var upper [len("PUNSUBSCRIBE")]byte // the longest name in notShared
	if len(name) > len(upper) {
		return resp.Value{}, false
	}
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper[i] = c
	}
	key := upper[:len(name)]
	if !notShared[string(key)] { // no allocation: the compiler looks up without a copy
		return resp.Value{}, false
	}
	what := string(key)
	if what == "CLIENT" {
		if len(cmd.Args) < 2 || !bytes.EqualFold(cmd.Args[1], []byte("REPLY")) {
			return resp.Value{}, false
		}
		what = "CLIENT REPLY"
	}
	return resp.Error("ERR", "redchain: "+what+" is not supported on shared backend connections yet"), true
}
