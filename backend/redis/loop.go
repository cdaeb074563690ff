package redis

import (
	"errors"
	"io"
	"net"
	"sync/atomic"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy/resp"
)

// A connection on an event loop (backend.Loop) is the same conn, driven differently: its
// socket is attached to the loop, which calls onData with replies and onClose at the
// end, and Send's commands are written by flush, posted once per turn of the loop. Only
// dialling, the handshake and the backoff between attempts happen on the conn's own
// goroutine (runLoop), which is parked while the connection is up. Replies thus reach
// their callbacks, and through them the client connections, on the loop that sent the
// commands, with no hand-off between threads.

var errLoopStopped = errors.New("event loop stopped")

// loopConns are the shared connections of one event loop: by protocol (RESP2, RESP3)
// and by kind (the connection of the commands that run scripts, backend.WithScripts, or
// the other).
type loopConns struct {
	lp    backend.Loop
	conns [2][2]atomic.Pointer[conn]
}

// loopConn returns the connection for event loop lp and protocol proto, that of the
// commands that run scripts with scripts (backend.WithScripts), making it on first use.
// Every command looks its connection up here: the loops are few, and comparing two
// of them is cheaper than hashing one (a map's key), so they are scanned.
func (b *Backend) loopConn(lp backend.Loop, proto int, scripts bool) *conn {
	p, k := 0, 0
	if proto == 3 {
		p = 1
	}
	if scripts {
		k = 1
	}
	find := func() (*loopConns, *conn) {
		if all := b.lconns.Load(); all != nil {
			for _, e := range *all {
				if e.lp == lp {
					return e, e.conns[p][k].Load()
				}
			}
		}
		return nil, nil
	}
	if _, c := find(); c != nil {
		return c
	}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	e, c := find()
	if c != nil {
		return c
	}
	if e == nil {
		e = &loopConns{lp: lp}
		var all []*loopConns
		if old := b.lconns.Load(); old != nil {
			all = append(all, *old...)
		}
		all = append(all, e)
		b.lconns.Store(&all)
	}
	n := b.nloops.Add(1)
	log := b.log.With("loop", n, "proto", proto)
	if scripts {
		log = log.With("scripts", true)
	}
	c = &conn{b: b, log: log, loop: lp, proto: proto, state: stateConnecting}
	c.flushFn = c.flush
	if b.ctx.Err() != nil {
		c.state = stateClosed
	} else {
		b.wg.Add(1)
		go c.runLoop()
	}
	e.conns[p][k].Store(c)
	if scripts {
		return c
	}
	// The loop's first client may want a connection of its own soon: have some ready.
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.warm(idleKey{lp, proto})
	}()
	return c
}

// flush writes the commands queued since the last flush, on the loop.
func (c *conn) flush() {
	c.mu.Lock()
	c.flushPosted = false
	if c.state != stateUp || c.out.empty() {
		c.mu.Unlock()
		return
	}
	w, write := c.out.take(c.spare), c.lwrite
	c.spare = outq{}
	c.mu.Unlock()
	// What the socket does not take is copied, or kept if owned; a failure closes it
	// (onClose).
	w.writeWith(write)
	c.mu.Lock()
	c.spare = w.reuse()
	c.mu.Unlock()
}

// runLoop connects the loop connection, waits while it is up, and reconnects, until
// Close or until the loop stops.
func (c *conn) runLoop() {
	defer c.b.wg.Done()
	c.supervise(func() (func(), error) {
		nc, err := c.dial()
		if err != nil {
			return nil, err
		}
		quit, err := c.attach(nc)
		if err != nil {
			return nil, err
		}
		return func() { c.await(quit) }, nil
	}, c.attemptFailed)
}

// await waits while a loop connection is up: until its generation ends (onClose, a
// timeout, or Close) or the backend closes.
func (c *conn) await(quit <-chan struct{}) {
	select {
	case <-quit:
	case <-c.b.ctx.Done():
	}
}

// attemptFailed fails the commands queued while the first connection was being made,
// and gives up once the loop has stopped: no command will come here again.
func (c *conn) attemptFailed(error) bool {
	c.mu.Lock()
	var f failed
	first := c.state == stateConnecting
	if first {
		f = c.takeDown(stateDown)
	}
	c.mu.Unlock()
	if first {
		f.finish(c.b.errUnavailable, c.b.errUnavailable)
	}
	if c.loop != nil && !c.loop.Post(func() {}) {
		c.close()
		return false
	}
	return true
}

// attachment ties one socket, attached to the loop, to its generation of the conn.
type attachment struct {
	c      *conn
	gen    atomic.Uint64 // 0 until the connection is up
	closed bool          // guarded by c.mu: onClose came before up
}

// attach hands nc to the loop and marks the connection up, with queued commands
// flushed. It returns the generation's quit channel.
func (c *conn) attach(nc net.Conn) (chan struct{}, error) {
	h := &attachment{c: c}
	write, closeConn, err := c.loop.Attach(nc, h.onData, h.onClose)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		_ = closeConn()
		return nil, c.b.errClosed
	}
	c.gen++
	gen := c.gen
	c.state, c.lwrite, c.lclose, c.quit = stateUp, write, closeConn, make(chan struct{})
	quit := c.quit
	h.gen.Store(gen)
	closed := h.closed
	post := !c.out.empty() && !c.flushPosted
	c.flushPosted = c.flushPosted || post
	c.mu.Unlock()
	if closed {
		c.fail(gen, io.EOF)
	} else if post && !c.loop.Post(c.flushFn) {
		c.fail(gen, errLoopStopped)
	}
	return quit, nil
}

// onData delimits the replies that arrived and hands each to its command's callback.
// On the loop.
func (h *attachment) onData(data []byte) {
	c, gen := h.c, h.gen.Load()
	if gen == 0 {
		return // a reply before any command: the next one will fail the connection
	}
	if c.rgen != gen {
		c.rgen = gen
		c.parser.Reset()
		c.rbuf = c.rbuf[:0]
	}
	for len(data) > 0 {
		n, err := c.absorb(gen, data)
		if err != nil {
			c.fail(gen, err)
			return
		}
		data = data[n:]
	}
}

// absorb delimits the replies in data, or in as much of it as the buffer of a big reply
// in progress has room for, and hands each to its command's callback. It keeps the start
// of an incomplete reply in rbuf, and returns how much of data it took. On the loop.
func (c *conn) absorb(gen uint64, data []byte) (int, error) {
	buf := data
	if len(c.rbuf) > 0 || len(data) >= resp.BigFrame {
		// A reply goes on, or may be big: it is delivered from a buffer of our own,
		// which a big reply is handed over with, never from the loop's.
		if need := c.bigNeed(); cap(c.rbuf)-len(c.rbuf) < need {
			c.rbuf = room(c.rbuf, 0, need)
		}
		if m, free := c.parser.Missing(), cap(c.rbuf)-len(c.rbuf); m > 0 && m <= free && free < len(data) {
			// The reply's bulk ends in rbuf, sized for it: what follows goes to the
			// next buffer, rather than grow this one, a copy of the big reply.
			data = data[:free]
		}
		c.rbuf = append(c.rbuf, data...)
		buf = c.rbuf
	}
	start, err := c.consume(gen, buf, 0)
	// Keep the start of an incomplete reply; the parser resumes where it stopped.
	rest := buf[start:]
	switch {
	case c.handed:
		c.rbuf = c.handOff(rest)
	case err != nil:
	case len(rest) == 0 && cap(c.rbuf) > maxKeep:
		c.rbuf = nil
	case len(c.rbuf) > 0:
		c.rbuf = c.rbuf[:copy(c.rbuf, rest)]
	default:
		c.rbuf = append(c.rbuf[:0], rest...)
	}
	return len(data), err
}

// onClose ends the generation when the loop closes the socket. On the loop. A nil err
// means the socket was closed on this side: by this conn, which has ended the generation
// already, or by the loop as it stops (the proxy shuts down).
func (h *attachment) onClose(err error) {
	c := h.c
	c.mu.Lock()
	h.closed = true
	gen := h.gen.Load()
	c.mu.Unlock()
	if err == nil {
		err = errLoopStopped
	}
	if gen != 0 {
		c.fail(gen, err)
	}
}
