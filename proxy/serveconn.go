package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// ServeConn serves nc as one client connection, though the server's listener did not
// accept it: one end of a net.Pipe in a test (proxytest.Pipe), or a connection from a
// listener of the caller's own. It returns at once, and the connection is served on an
// event loop of its own, run by goroutines, with every contract of a connection
// accepted by ListenAndServe: replies in order, holds, pushes, limits, timeouts,
// ConnObserver. The server need not be listening. Shutdown ends such connections as it
// ends the others, and waits for their goroutines. Writes to nc are made by a goroutine
// of their own, never by the loop.
//
// ServeConn returns ErrServerClosed after Shutdown, and an error when WithMaxClients
// connections are open (the client then reads Redis's "max number of clients reached");
// nc is closed in both cases. Safe from any goroutine.
func (s *Server) ServeConn(nc net.Conn) error {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return ErrServerClosed
	}
	if s.clients >= s.opts.maxClients {
		s.mu.Unlock()
		_ = nc.SetWriteDeadline(time.Now().Add(closeFlush))
		_, _ = nc.Write(errMaxClients)
		_ = nc.Close()
		return errServeConnMaxClients
	}
	s.clients++
	ex := &goLoop{}
	l := s.newLoop(ex)
	s.served.Add(2)
	s.mu.Unlock()
	s.startTicker()

	w := newPipeWire(nc)
	opened := make(chan *Conn, 1)
	l.post(func() { opened <- s.open(l, w, nc.RemoteAddr(), nc.LocalAddr()) })
	c := <-opened
	go func() {
		defer s.served.Done()
		w.run()
	}()
	go func() {
		defer s.served.Done()
		s.read(c, w, ex)
	}()
	return nil
}

var errServeConnMaxClients = errors.New("proxy: max number of clients reached")

// closeFlush bounds how long a closed ServeConn connection keeps writing what was queued
// before it closed, to a client that does not read.
const closeFlush = time.Second

// read reads what the client sends and serves it on c's loop, one read at a time, until
// the connection ends; then it releases c. ex is c's loop.
func (s *Server) read(c *Conn, w *pipeWire, ex executor) {
	buf := make([]byte, 16<<10)
	more := make(chan bool, 1)
	for {
		n, err := w.nc.Read(buf)
		if n > 0 {
			c.loop.post(func() { more <- c.received(buf[:n]) })
			if !<-more {
				w.abort()
			}
		}
		if err != nil {
			break
		}
	}
	w.abort()
	done := make(chan struct{})
	c.loop.post(func() {
		s.closed(c)
		close(done)
	})
	<-done
	s.mu.Lock()
	delete(s.loops, ex)
	s.mu.Unlock()
}

// goLoop runs a loop's work on goroutines, one run at a time: the loop of a connection
// served by ServeConn.
type goLoop struct{ mu sync.Mutex }

// Execute runs r on a goroutine once the runs before it have returned.
func (g *goLoop) Execute(ctx context.Context, r gnet.Runnable) error {
	go func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		_ = r.Run(ctx)
	}()
	return nil
}

// pipeWire carries the replies of a ServeConn connection: the loop queues them, and a
// goroutine of its own (run) writes them to the net.Conn, so that a client that does not
// read never blocks the loop (MaxOutbound bounds what is queued, as with a socket).
type pipeWire struct {
	nc net.Conn

	mu      sync.Mutex
	cond    sync.Cond
	out     []byte // queued, not yet handed to nc
	writing int    // bytes being written to nc
	closing bool   // Close was called: write what is queued, then close nc
}

func newPipeWire(nc net.Conn) *pipeWire {
	w := &pipeWire{nc: nc}
	w.cond.L = &w.mu
	return w
}

// Write queues b. On the loop.
func (w *pipeWire) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return 0, net.ErrClosed
	}
	w.out = append(w.out, b...)
	w.cond.Signal()
	return len(b), nil
}

// Writev queues each of bs, in order. On the loop.
func (w *pipeWire) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		m, err := w.Write(b)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// OutboundBuffered returns how many bytes are queued or being written.
func (w *pipeWire) OutboundBuffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.out) + w.writing
}

// Close has what is queued written, within closeFlush, and then nc closed. Any goroutine.
func (w *pipeWire) Close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return nil
	}
	w.closing = true
	w.cond.Signal()
	w.mu.Unlock()
	_ = w.nc.SetWriteDeadline(time.Now().Add(closeFlush))
	return nil
}

// abort closes nc at once, dropping what is queued: the client has gone, or must be cut
// off. Any goroutine.
func (w *pipeWire) abort() {
	w.mu.Lock()
	w.closing = true
	w.out = nil
	w.cond.Signal()
	w.mu.Unlock()
	_ = w.nc.Close()
}

// run writes what is queued until the wire closes.
func (w *pipeWire) run() {
	defer w.nc.Close()
	var buf []byte
	for {
		w.mu.Lock()
		for len(w.out) == 0 && !w.closing {
			w.cond.Wait()
		}
		if len(w.out) == 0 {
			w.mu.Unlock()
			return
		}
		buf, w.out = w.out, buf[:0]
		w.writing = len(buf)
		w.mu.Unlock()
		_, err := w.nc.Write(buf)
		w.mu.Lock()
		w.writing = 0
		if err != nil {
			w.closing, w.out = true, nil
		}
		w.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// detachedServer gives the connections of NewRequest their clock, limits and logger; it
// serves nothing.
var detachedServer = sync.OnceValue(func() *Server {
	return New(HandlerFunc(func(_ context.Context, w ReplyWriter, _ *Request) { w.WriteReply(InternalError) }))
})

// newDetachedConn returns a connection that no client is behind (NewRequest).
func newDetachedConn() *Conn {
	s := detachedServer()
	l := &loop{srv: s, el: &goLoop{}, conns: map[*Conn]struct{}{}}
	c := &Conn{srv: s, loop: l, id: connIDs.Add(1), opened: time.Now()}
	c.setWire(discardWire{})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.grow()
	return c
}

// discardWire is the wire of a detached connection: what is written is dropped.
type discardWire struct{}

func (discardWire) Write(b []byte) (int, error)     { return len(b), nil }
func (discardWire) Writev(bs [][]byte) (int, error) { return 0, nil }
func (discardWire) OutboundBuffered() int           { return 0 }
func (discardWire) Close() error                    { return nil }
