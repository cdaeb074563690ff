package redis

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// Backend sends commands to one Redis server over a few shared, pipelined connections.
// Create it with [New]. Its methods are safe for concurrent use.
type Backend struct {
	cfg    Config
	log    hclog.Logger
	hello  [2][]resp.Command // per protocol (RESP2, RESP3): run on each new connection
	conns  []*conn
	conns3 atomic.Pointer[[]*conn] // RESP3 connections, made on first use
	once3  sync.Once               // makes conns3
	rr     atomic.Uint64           // round-robin counter for commands without a session

	// Dedicated connections (dedicated.go): those lent, and those idle, per loop.
	dconns  sync.Map // *conn -> struct{}: every dedicated connection alive
	idle    map[idleKey][]*conn
	warming map[idleKey]int // dedicated connections dialled ahead and not up yet
	idleMu  sync.Mutex

	reconnects atomic.Uint64 // connections made again after one broke

	// Connections on event loops (loop.go), one per backend.Loop, made on first use.
	lconns atomic.Pointer[[]*loopConns] // copy on write, under lmu
	lmu    sync.Mutex
	nloops atomic.Int64

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every goroutine of the backend
	closeOnce sync.Once

	// The errors Send reports, wrapped with the address once for all.
	errClosed, errUnavailable, errBusy, errTimeout error

	// The backends of the server's users (users.go); parent is the backend that made
	// this one, if it is a user's.
	users   map[userKey]*userBackend
	usersMu sync.Mutex
	parent  *Backend
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.StatsReporter = (*Backend)(nil)
	_ backend.Dedicator     = (*Backend)(nil)
	_ backend.Users         = (*Backend)(nil)
	_ backend.Barrierer     = (*Backend)(nil)
)

// Stats reports the backend's connections, waiting commands and reconnections, with
// those of its users' backends (AsUser). Safe from any goroutine.
func (b *Backend) Stats() backend.Stats {
	st := backend.Stats{Reconnects: b.reconnects.Load()}
	b.usersMu.Lock()
	for _, u := range b.users {
		us := u.b.Stats()
		st.Conns, st.ConnsUp, st.Waiting, st.Reconnects = st.Conns+us.Conns, st.ConnsUp+us.ConnsUp, st.Waiting+us.Waiting, st.Reconnects+us.Reconnects
	}
	b.usersMu.Unlock()
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
	b, first := start(cfg, cfg.Logger.Named("redis").With("addr", cfg.Addr))
	first.Wait()
	return b, nil
}

// start returns a backend for cfg, whose connections make their first attempts until
// first is done.
func start(cfg Config, log hclog.Logger) (b *Backend, first *sync.WaitGroup) {
	b = &Backend{cfg: cfg, log: log}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	wrap := func(err error) error { return fmt.Errorf("redis %s: %w", cfg.Addr, err) }
	b.errClosed = wrap(backend.ErrClosed)
	b.errUnavailable = wrap(backend.ErrUnavailable)
	b.errBusy = wrap(backend.ErrBusy)
	b.errTimeout = wrap(backend.ErrTimeout)
	b.hello = handshakes(cfg)

	first = new(sync.WaitGroup) // each connection's first attempt
	first.Add(cfg.Conns)
	for i := range cfg.Conns {
		c := &conn{b: b, log: b.log.With("conn", i), wake: make(chan struct{}, 1), proto: 2,
			state: stateConnecting} // commands sent during the first attempt wait for it
		b.conns = append(b.conns, c)
		b.wg.Add(1)
		go c.run(first.Done)
	}
	if cfg.CommandTimeout > 0 {
		b.wg.Add(1)
		go b.watch()
	}
	return b, first
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
	if err := b.sessionConn(ctx).send(cmd, done); err != nil {
		done(resp.Value{}, err)
	}
}

// SendAsking sends ASKING and then cmd, back to back on the connection of ctx's session,
// as a Redis Cluster client must after an -ASK redirection (ASKING holds for the next
// command of its connection only); done gets cmd's reply, and ASKING's is dropped. It
// is for backend/cluster: ASKING itself is no command for Send. Safe from any
// goroutine.
func (b *Backend) SendAsking(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) {
	if reply, refused := refuse(cmd); refused {
		done(reply, nil)
		return
	}
	if err := b.sessionConn(ctx).sendAsking(cmd, done); err != nil {
		done(resp.Value{}, err)
	}
}

// sessionConn returns the shared connection that the session of ctx uses: that of its
// event loop, or connection id % Conns, for its protocol.
func (b *Backend) sessionConn(ctx context.Context) *conn {
	proto := backend.ProtocolFrom(ctx)
	if lp, ok := backend.LoopFrom(ctx); ok {
		return b.loopConn(lp, proto, backend.ScriptsFrom(ctx))
	}
	id, ok := backend.SessionFrom(ctx)
	if !ok {
		id = b.rr.Add(1)
	}
	conns := b.conns
	if proto == 3 {
		conns = b.resp3Conns()
	}
	return conns[id%uint64(len(conns))]
}

// resp3Conns returns the shared RESP3 connections, making them on first use.
func (b *Backend) resp3Conns() []*conn {
	b.once3.Do(func() {
		b.lmu.Lock() // against Close
		defer b.lmu.Unlock()
		var conns []*conn
		for i := range b.cfg.Conns {
			c := &conn{b: b, log: b.log.With("conn", i, "proto", 3), wake: make(chan struct{}, 1),
				proto: 3, state: stateConnecting}
			if b.ctx.Err() != nil {
				c.state = stateClosed
			} else {
				b.wg.Add(1)
				go c.run(func() {})
			}
			conns = append(conns, c)
		}
		b.conns3.Store(&conns)
	})
	return *b.conns3.Load()
}

// Barrier calls done once every command sent before it with ctx's session has been
// answered (or has failed): the session can then go on over another connection (a
// dedicated one) without overtaking them. It sends nothing. done may run before Barrier
// returns, or on the connection's goroutine or event loop.
func (b *Backend) Barrier(ctx context.Context, done func()) {
	b.sessionConn(ctx).barrier(done)
}

// Close fails the waiting commands with backend.ErrClosed, closes the connections, and
// returns once every goroutine of the backend has ended. Later Sends fail with ErrClosed.
// It always returns nil; calling it again does nothing. It must not be called from a
// callback of this backend.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.closeUsers()
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

// ping checks that the server answers at all, on a connection of its own: any reply to
// PING (-BUSY while a script runs, -NOAUTH, -LOADING) will do, within DialTimeout.
func (b *Backend) ping() error {
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", b.cfg.Addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := nc.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	var one [1]byte
	_, err = nc.Read(one[:])
	return err
}

// all returns every connection: the fixed ones and those on event loops.
func (b *Backend) all() []*conn {
	all := append([]*conn(nil), b.conns...)
	if c3 := b.conns3.Load(); c3 != nil {
		all = append(all, *c3...)
	}
	if l := b.lconns.Load(); l != nil {
		for _, e := range *l {
			for i := range e.conns {
				for j := range e.conns[i] {
					if c := e.conns[i][j].Load(); c != nil {
						all = append(all, c)
					}
				}
			}
		}
	}
	b.dconns.Range(func(c, _ any) bool {
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

var errEmpty = resp.Error("ERR", "empty command")

// refuse returns the error reply for a command that must not go over a shared
// connection (see command.Shareable), or an empty command, which Redis would not answer.
func refuse(cmd resp.Command) (resp.Value, bool) {
	if len(cmd.Args) == 0 {
		return errEmpty, true
	}
	if command.Shareable(cmd.Args) {
		return resp.Value{}, false
	}
	return resp.Error("ERR", "redchain: '"+string(bytes.ToLower(cmd.Args[0]))+"' cannot be sent on a shared backend connection"), true
}
