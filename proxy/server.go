package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/panjf2000/gnet/v2"
	"github.com/redchain/redchain/internal/reclaim"
	"github.com/redchain/redchain/proxy/resp"
	"golang.org/x/sys/unix"
)

// ErrServerClosed is returned by ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("proxy: server closed")

// Server accepts Redis clients and serves their commands through a Handler.
type Server struct {
	handler Handler
	obs     ConnObserver
	opts    options
	start   time.Time

	started  atomic.Bool
	draining atomic.Bool
	ready    chan struct{} // closed once listening, or once ListenAndServe failed
	done     chan struct{} // closed when ListenAndServe returns
	addr     net.Addr
	eng      gnet.Engine

	doubleReplies atomic.Uint64
	lateReplies   atomic.Uint64
	budget        *budget // nil without WithMaxMemoryClients

	mu        sync.Mutex
	loops     map[executor]*loop
	clients   int
	drainedCh chan struct{}
	stopTick  chan struct{}
	tickOnce  sync.Once
	ticker    sync.WaitGroup
	served    sync.WaitGroup // the goroutines of ServeConn connections
}

var connIDs atomic.Uint64

// New returns a server that serves every command with h. Options tune its limits; see
// the With... functions. New panics if h is nil, a programmer error.
func New(h Handler, opts ...Option) *Server {
	if h == nil {
		panic("proxy: nil handler")
	}
	s := &Server{
		handler:  h,
		opts:     defaultOptions(),
		start:    time.Now(),
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
		loops:    map[executor]*loop{},
		stopTick: make(chan struct{}),
	}
	for _, o := range opts {
		o(&s.opts)
	}
	o := &s.opts
	if o.loops <= 0 {
		o.loops = 1
	}
	if o.maxInflight < 1 {
		o.maxInflight = DefaultMaxInflight
	}
	n := 1
	for n < o.maxInflight {
		n *= 2
	}
	o.maxInflight = n
	if o.maxPending <= 0 || o.maxPending > o.maxInflight {
		o.maxPending = o.maxInflight
	}
	if obs, ok := h.(ConnObserver); ok {
		s.obs = obs
	}
	if o.maxMemoryClients > 0 {
		s.budget = &budget{limit: o.maxMemoryClients, big: map[*Conn]struct{}{}}
	}
	return s
}

// ListenAndServe listens on the TCP address addr ("127.0.0.1:6380"; port 0 picks a free
// one, see Addr) and serves until Shutdown, when it returns ErrServerClosed. It may be
// called once.
func (s *Server) ListenAndServe(addr string) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("proxy: server already started")
	}
	defer close(s.done)
	err := gnet.Run(&events{s: s}, "tcp://"+addr,
		gnet.WithNumEventLoop(s.opts.loops),
		gnet.WithMulticore(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true), // a restarted proxy binds past its old connections' TIME_WAIT
		gnet.WithTicker(false),
		gnet.WithLogger(gnetLogger{s.opts.logger.Named("gnet")}),
	)
	select {
	case <-s.ready:
	default:
		close(s.ready) // the engine failed before it booted
	}
	if s.draining.Load() {
		return ErrServerClosed
	}
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	return nil
}

// Ready returns a channel that is closed once the server listens (then Addr is set), or
// once ListenAndServe has failed to start. Safe from any goroutine.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address the server listens on, or nil before it does.
func (s *Server) Addr() net.Addr {
	select {
	case <-s.ready:
		return s.addr
	default:
		return nil
	}
}

// Shutdown stops the server gracefully: it stops accepting connections and reading
// commands, waits until every command already read has been answered and its reply
// written, then closes every connection and returns. If ctx ends first, it closes them
// at once and returns ctx's error. Safe from any goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.draining.CompareAndSwap(false, true) {
		<-s.done
		return nil
	}
	// A server that was not listening cannot start to now.
	listening := !s.started.CompareAndSwap(false, true)
	if listening {
		select {
		case <-s.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := s.drain(ctx)
	s.tickOnce.Do(func() {}) // no ticker starts after this
	close(s.stopTick)
	s.ticker.Wait()
	s.endServed(err != nil)
	if !listening {
		close(s.done)
		return err
	}
	if s.addr == nil { // never booted
		<-s.done
		return err
	}
	// gnet's Stop polls for the end every 500ms; the engine is down as soon as Run has
	// returned (s.done), so wait for that and then cancel Stop's wait.
	stopCtx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- s.eng.Stop(stopCtx) }()
	<-s.done
	cancel()
	if e := <-stopped; e != nil && !errors.Is(e, context.Canceled) && err == nil {
		err = fmt.Errorf("proxy: %w", e)
	}
	return err
}

// drain has every loop finish the commands it has read, and waits until they have, or
// until ctx ends (then it returns ctx's error).
func (s *Server) drain(ctx context.Context) error {
	s.mu.Lock()
	loops := make([]*loop, 0, len(s.loops))
	for _, l := range s.loops {
		loops = append(loops, l)
	}
	s.drainedCh = make(chan struct{}, len(loops))
	s.mu.Unlock()
	for _, l := range loops {
		l.post(l.drain)
	}
	for range loops {
		select {
		case <-s.drainedCh:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// endServed waits for the connections of ServeConn to end: once drained they close
// themselves after their last reply; cut closes them at once.
func (s *Server) endServed(cut bool) {
	if cut {
		s.mu.Lock()
		for ex, l := range s.loops {
			if _, ok := ex.(*goLoop); ok {
				l.post(func() {
					for c := range l.conns {
						c.gc.(*pipeWire).abort()
					}
				})
			}
		}
		s.mu.Unlock()
	}
	s.served.Wait()
}

// clock returns the server's monotonic clock in nanoseconds.
func (s *Server) clock() int64 { return int64(time.Since(s.start)) }

// rejected reports a reply that a writer was not allowed to write.
func (s *Server) rejected(c *Conn, late bool) {
	if late {
		s.lateReplies.Add(1)
		s.opts.logger.Debug("late reply dropped: the proxy had answered the command already", "conn", c.id)
		return
	}
	s.doubleReplies.Add(1)
	s.opts.logger.Warn("second reply to one command dropped: a handler wrote twice", "conn", c.id)
}

// Stats are a server's gauges and counters.
type Stats struct {
	Conns         int    // client connections open now
	Inflight      int    // commands read whose replies have not been written yet
	Pending       int    // of those, commands waiting behind a hold (Conn.Hold)
	DoubleReplies uint64 // replies refused because the command had its reply already
	LateReplies   uint64 // replies dropped because the proxy had answered (reply timeout)
	// ClientMemory is what the clients' connections hold, as the client memory budget
	// counts it (WithMaxMemoryClients; 0 without one), in steps of 64 KiB per
	// connection.
	ClientMemory int64
	// ClientsEvicted counts the clients closed because the budget was exceeded.
	ClientsEvicted uint64
}

// Stats returns the server's gauges and counters. Safe from any goroutine; the gauges
// are as of each connection's latest turn on its event loop.
func (s *Server) Stats() Stats {
	st := Stats{DoubleReplies: s.doubleReplies.Load(), LateReplies: s.lateReplies.Load()}
	st.ClientMemory, st.ClientsEvicted = s.budget.stats()
	s.mu.Lock()
	st.Conns = s.clients
	for _, l := range s.loops {
		st.Inflight += int(l.pubInflight.Load())
		st.Pending += int(l.pubPending.Load())
	}
	s.mu.Unlock()
	return st
}

// startTicker starts the periodic checks, once.
func (s *Server) startTicker() {
	s.tickOnce.Do(func() {
		s.ticker.Add(1)
		go s.tick(s.opts.tickPeriod())
	})
}

// tick runs the periodic checks: reply timeouts and idle connections.
func (s *Server) tick(period time.Duration) {
	defer s.ticker.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-s.stopTick:
			return
		case <-t.C:
			s.mu.Lock()
			for _, l := range s.loops {
				l.post(l.check)
			}
			s.mu.Unlock()
		}
	}
}

// tickPeriod is how often timeouts are checked: a quarter of the shortest timeout, within
// [5ms, 1s].
func (o *options) tickPeriod() time.Duration {
	d := time.Second
	for _, t := range []time.Duration{o.replyTimeout, o.idleTimeout} {
		if t > 0 && t/4 < d {
			d = t / 4
		}
	}
	return max(d, 5*time.Millisecond)
}

// events is the server's gnet event handler.
type events struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (e *events) OnBoot(eng gnet.Engine) gnet.Action {
	s := e.s
	s.eng = eng
	addr, err := listenAddr(eng)
	if err != nil {
		s.opts.logger.Error("cannot read the listening address", "error", err)
		return gnet.Shutdown
	}
	s.addr = addr
	s.startTicker()
	s.opts.logger.Info("listening", "addr", addr.String(), "loops", s.opts.loops)
	close(s.ready)
	return gnet.None
}

// listenAddr finds the bound address (the port, when 0 was asked for).
func listenAddr(eng gnet.Engine) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	}
	return nil, fmt.Errorf("unexpected socket address %T", sa)
}

func (e *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if u, ok := gc.Context().(*upstream); ok {
		u.pace.setWire(gc) // a backend's connection, attached through Loop.Attach
		return nil, gnet.None
	}
	s := e.s
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		return nil, gnet.Close
	}
	if s.clients >= s.opts.maxClients {
		s.mu.Unlock()
		s.opts.logger.Warn("client refused: max clients reached", "remote", gc.RemoteAddr().String())
		return errMaxClients, gnet.Close
	}
	s.clients++
	l := s.loops[gc.EventLoop()]
	if l == nil {
		l = s.newLoop(gc.EventLoop())
	}
	s.mu.Unlock()
	gc.SetContext(s.open(l, gc, gc.RemoteAddr(), gc.LocalAddr()))
	return nil, gnet.None
}

// open makes the Conn of a client accepted on loop l, which carries it over w. On l.
func (s *Server) open(l *loop, w wire, remote, local net.Addr) *Conn {
	c := &Conn{srv: s, loop: l, id: connIDs.Add(1), remote: remote, local: local, opened: time.Now()}
	c.setWire(w)
	c.replyEst = s.opts.maxOutbound / 64
	c.parser.Limits = s.opts.limits
	c.lastActive = s.clock()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if s.obs != nil {
		c.ctx = s.obs.ObserveConn(c.ctx, c)
	}
	c.grow()
	l.conns[c] = struct{}{}
	return c
}

// closed releases the state of client connection c, which has closed. On c's loop.
func (s *Server) closed(c *Conn) {
	c.closeLoop()
	s.mu.Lock()
	s.clients--
	s.mu.Unlock()
}

func (e *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	if u, ok := gc.Context().(*upstream); ok {
		u.pace.reset()
		u.onClose(err)
		return gnet.None
	}
	if c, ok := gc.Context().(*Conn); ok {
		e.s.closed(c)
	}
	return gnet.None
}

func (e *events) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok {
		if u, ok := gc.Context().(*upstream); ok {
			u.traffic(gc)
		}
		return gnet.None
	}
	buf, _ := gc.Next(-1)
	if !c.received(buf) {
		return gnet.Close
	}
	return gnet.None
}

// received takes what arrived from the client and serves it. It reports false when the
// connection must close at once. On c's loop.
func (c *Conn) received(buf []byte) bool {
	if len(buf) > 0 && !c.closing {
		if need := c.parser.Missing(); need > keepBuf && need > cap(c.in)-len(c.in) {
			// A big argument: room for all of it at once, as Redis makes it, rather
			// than a buffer doubled step by step, each step garbage.
			in := reclaim.Make(len(c.in)-c.inOff, len(c.in)-c.inOff+need)
			copy(in, c.in[c.inOff:])
			c.in, c.inOff = in, 0
		}
		c.in = append(c.in, buf...)
		c.lastActive = c.srv.clock()
		if c.deferred != nil && len(c.in)-c.inOff > MaxDeferredInput {
			c.fail(resp.Error("ERR", c.deferred.Error()))
		}
	}
	c.run()
	// A socket is not left unread, so while the ring is full received bytes wait in c.in,
	// undecoded, bounded like Redis's client-query-buffer-limit. (An incomplete command
	// over the limit got its protocol error in run.)
	if max := c.srv.opts.maxQueryBuffer; max > 0 && len(c.in)-c.inOff > max {
		c.srv.opts.logger.Warn("client closed: query buffer limit exceeded", "conn", c.id, "limit", max)
		return false // as Redis does: at once, since its replies may never come
	}
	return true
}

// executor runs a loop's work (gnet.Runnable is the loop itself): a gnet event loop, or
// a goLoop for a connection served by ServeConn.
type executor interface {
	Execute(ctx context.Context, r gnet.Runnable) error
}

// newLoop returns the server's state for the loop that ex runs; s.mu is held. Only a gnet
// loop has a handle (Conn.Loop): a backend can attach its connections to it.
func (s *Server) newLoop(ex executor) *loop {
	l := &loop{srv: s, el: ex, conns: map[*Conn]struct{}{}}
	if _, ok := ex.(gnet.EventLoop); ok {
		l.handle = &Loop{l: l}
	}
	s.loops[ex] = l
	return l
}

// loop is the server's state for one gnet event loop: a queue of functions to run on it
// (Conn.Post) and of connections with replies to flush.
type loop struct {
	srv *Server
	el  executor

	conns    map[*Conn]struct{} // loop-only
	inflight int                // loop-only: commands read and not yet answered
	pending  int                // loop-only: of those, commands not yet in the chain
	drainSig bool               // loop-only

	// The loop's counters as Stats reads them, published after each connection's run.
	pubInflight, pubPending atomic.Int64

	handle *Loop

	mu        sync.Mutex
	tasks     []func()
	readyq    []*Conn
	scheduled bool
	inline    bool // an upstream's data is being handled: readyq is flushed after it
	stopped   bool // the engine refused a task: nothing runs on this loop any more
	spareT    []func()
	spareR    []*Conn
}

// post queues fn to run on the loop and reports whether it will run. Any goroutine.
func (l *loop) post(fn func()) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.tasks = append(l.tasks, fn)
	return l.schedule()
}

// ready queues c to be run (its replies flushed). Any goroutine.
func (l *loop) ready(c *Conn) {
	l.mu.Lock()
	l.readyq = append(l.readyq, c)
	if l.inline {
		l.mu.Unlock() // the loop flushes readyq as soon as the upstream's data is handled
		return
	}
	l.schedule()
}

// schedule wakes the loop unless a wake-up is already on its way; it unlocks l.mu. It
// reports false when the engine has stopped, and nothing will run on the loop again.
func (l *loop) schedule() bool {
	wake := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if wake {
		if err := l.el.Execute(context.Background(), l); err != nil {
			l.mu.Lock()
			l.stopped = true
			l.tasks, l.readyq = l.tasks[:0], l.readyq[:0]
			l.mu.Unlock()
			return false
		}
	}
	return true
}

// Run is called by gnet on the loop: it runs the queued functions, then the queued
// connections.
func (l *loop) Run(context.Context) error {
	for {
		l.mu.Lock()
		if len(l.tasks) == 0 && len(l.readyq) == 0 {
			l.scheduled = false
			l.mu.Unlock()
			return nil
		}
		tasks, readyq := l.tasks, l.readyq
		l.tasks, l.readyq = l.spareT[:0], l.spareR[:0]
		l.mu.Unlock()
		for i, fn := range tasks {
			l.runTask(fn)
			tasks[i] = nil
		}
		for i, c := range readyq {
			c.run()
			readyq[i] = nil
		}
		l.spareT, l.spareR = tasks[:0], readyq[:0]
	}
}

func (l *loop) runTask(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			l.srv.opts.logger.Error("panic in a function posted to the event loop", "panic", r)
		}
	}()
	fn()
}

// check answers expired commands and closes idle connections. Loop-only.
func (l *loop) check() {
	now := l.srv.clock()
	o := &l.srv.opts
	for c := range l.conns {
		if c.head == c.tail {
			if o.idleTimeout > 0 && now-c.lastActive >= int64(o.idleTimeout) && !c.closeSent {
				c.closeSent = true
				_ = c.gc.Close()
			}
			if c.inOff < len(c.in) {
				c.run() // input waiting for outbound room
			}
			continue
		}
		if o.replyTimeout > 0 {
			c.expire(now, int64(o.replyTimeout))
		}
		c.run()
	}
}

// drain is posted once by Shutdown: from then on, connections only finish what they have.
func (l *loop) drain() {
	for c := range l.conns {
		c.closing = true
		c.run()
	}
	l.drained()
}

// publish makes the loop's counters visible to Stats. Loop-only; the stores are
// uncontended, one writer each.
func (l *loop) publish() {
	l.pubInflight.Store(int64(l.inflight))
	l.pubPending.Store(int64(l.pending))
}

// drained tells Shutdown, once, that this loop has no command left in flight.
func (l *loop) drained() {
	if l.inflight == 0 && !l.drainSig && l.srv.draining.Load() {
		l.srv.mu.Lock()
		ch := l.srv.drainedCh
		l.srv.mu.Unlock()
		if ch != nil {
			l.drainSig = true
			ch <- struct{}{}
		}
	}
}

// gnetLogger sends gnet's logging to an hclog.Logger.
type gnetLogger struct{ l hclog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) {
	if g.l.IsDebug() {
		g.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Info(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
