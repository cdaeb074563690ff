package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/panjf2000/gnet/v2"
)

// Loop is one of the server's event loops, as a backend sees it: a backend can serve its
// own server connections on the loop of the client connections that use them (see
// Attach), so that a command and its reply never leave that loop's goroutine. It
// satisfies backend.Loop.
type Loop struct{ l *loop }

// Loop returns the event loop the connection lives on, or nil for a connection served by
// ServeConn, whose loop has no sockets of its own: a backend then uses goroutines of its
// own for the commands of that connection. Safe from any goroutine.
func (c *Conn) Loop() *Loop { return c.loop.handle }

// Post runs fn on the loop, after the current callback returns, and reports whether it
// will run: false once the server has stopped. Safe from any goroutine.
func (lp *Loop) Post(fn func()) bool { return lp.l.post(fn) }

// errStopped is returned by Attach once the server has stopped.
var errStopped = errors.New("proxy: server stopped")

// Attach hands nc over to the loop: from then on the loop reads it and calls onData with
// what arrives (the slice is valid during the call only) and onClose once when the
// connection ends, both on the loop. onClose gets the error that ended the connection, or
// nil when it was closed on this side: by closeConn, or by the loop as the server shuts
// down. Attach returns write, which sends b on the connection without blocking and must be
// called on the loop, and closeConn, which closes the connection from any goroutine.
// With owned false, b may be reused when write returns: what the socket does not take at
// once is copied. With owned true, b is handed over (nobody modifies it again, as with
// resp.Command.Owned): it waits uncopied and goes out as the socket takes it, so that a
// big command is held once. nc itself is closed by Attach (the loop uses
// a duplicate of its descriptor).
//
// Attach waits for the loop to take the connection, so it must not be called on the
// loop itself. Replies that onData writes to client connections of the same loop are
// flushed as soon as onData returns.
func (lp *Loop) Attach(nc net.Conn, onData func([]byte), onClose func(error)) (write func(b []byte, owned bool), closeConn func() error, err error) {
	u := &upstream{loop: lp.l, onData: onData, onClose: onClose}
	u.pace.post = lp.l.post // and its wire once the loop has it (OnOpen)
	ch, err := lp.l.el.(gnet.EventLoop).Enroll(gnet.NewContext(context.Background(), u), nc)
	if err != nil {
		_ = nc.Close()
		return nil, nil, fmt.Errorf("proxy: attach %s: %w", nc.RemoteAddr(), err)
	}
	var res gnet.RegisteredResult
	var ok bool
	select {
	case res, ok = <-ch:
	case <-lp.l.srv.done:
		// The engine stopped: the loop may never take the connection (gnet would wait
		// for it forever), so do not wait either.
		return nil, nil, errStopped
	}
	if !ok {
		return nil, nil, errStopped
	}
	if res.Err != nil {
		return nil, nil, fmt.Errorf("proxy: attach %s: %w", nc.RemoteAddr(), res.Err)
	}
	return u.pace.write, res.Conn.Close, nil
}

// upstream is a connection a backend attached to a loop.
type upstream struct {
	loop    *loop
	onData  func([]byte)
	onClose func(error)
	pace    pacer // loop-only
}

// traffic passes what arrived to the backend, then flushes the client connections its
// replies completed, here and now rather than through another turn of the loop.
func (u *upstream) traffic(gc gnet.Conn) {
	buf, _ := gc.Next(-1)
	if len(buf) == 0 {
		return
	}
	l := u.loop
	l.mu.Lock()
	l.inline = true
	l.mu.Unlock()
	u.onData(buf)
	l.mu.Lock()
	l.inline = false
	ready := l.readyq
	l.readyq = l.spareR[:0]
	l.mu.Unlock()
	for i, c := range ready {
		c.run()
		ready[i] = nil
	}
	l.mu.Lock()
	l.spareR = ready[:0]
	l.mu.Unlock()
}
