package proxy

import (
	"context"
)

// Serve calls h.ServeRESP(ctx, w, req) the way the server passes a command into the
// chain: a panic in h becomes InternalError for that command, and a log line through the
// server's logger, instead of taking the event loop down. Middleware that pass a held
// command on later, from a function given to Conn.Post, call next through it.
func Serve(ctx context.Context, h Handler, w ReplyWriter, req *Request) {
	defer func() {
		if r := recover(); r != nil {
			if c := req.conn; c != nil {
				c.srv.opts.logger.Error("panic serving command", "command", string(req.name), "conn", c.id, "panic", r)
			}
			w.WriteReply(InternalError)
		}
	}()
	h.ServeRESP(ctx, w, req)
}

// Handler answers one command. It runs on the connection's event loop and must not block:
// it either writes the reply before returning (the fast path) or arranges for it to be
// written later, from any goroutine. Either way it writes exactly one reply.
//
// ctx is the connection's context (see [Conn.Context]): it is canceled when the connection
// closes. req and its arguments stay valid until the reply is written.
type Handler interface {
	ServeRESP(ctx context.Context, w ReplyWriter, req *Request)
}

// HandlerFunc adapts a function to the [Handler] interface.
type HandlerFunc func(ctx context.Context, w ReplyWriter, req *Request)

// ServeRESP calls f.
func (f HandlerFunc) ServeRESP(ctx context.Context, w ReplyWriter, req *Request) { f(ctx, w, req) }

// Middleware is one link of a chain. It may answer the command itself, pass it on by
// calling next.ServeRESP (now, or later from a function given to [Conn.Post]), wrap w to
// see the reply, or hold the connection ([Conn.Hold]) while it waits for something.
//
// next is an argument of every call: a middleware never stores it, since one middleware
// value serves every connection and every chain it is part of. The rules of [Handler]
// apply: no blocking, exactly one reply.
type Middleware interface {
	ServeRESP(ctx context.Context, w ReplyWriter, req *Request, next Handler)
}

// MiddlewareFunc adapts a function to the [Middleware] interface.
type MiddlewareFunc func(ctx context.Context, w ReplyWriter, req *Request, next Handler)

// ServeRESP calls f.
func (f MiddlewareFunc) ServeRESP(ctx context.Context, w ReplyWriter, req *Request, next Handler) {
	f(ctx, w, req, next)
}

// ConnObserver is implemented by handlers and middleware that want to know when a client
// connection opens, to set up per-connection state or to add values to the connection's
// context. ObserveConn runs on the connection's event loop before its first command; the
// context it returns is the one every command of that connection is served with (return
// ctx itself to add nothing). Chain calls the observers among its parts in chain order,
// each with the context returned by the one before.
type ConnObserver interface {
	ObserveConn(ctx context.Context, c *Conn) context.Context
}

// Chain returns a handler that passes each command through mws in order, mws[0] first
// (the outermost), and then to h. The result implements [ConnObserver] and calls every
// part that does.
func Chain(h Handler, mws ...Middleware) Handler {
	ch := &chain{}
	ch.first = end{h}
	for i := len(mws) - 1; i >= 0; i-- {
		ch.first = &link{mw: mws[i], next: ch.first}
	}
	for _, mw := range mws {
		if o, ok := mw.(ConnObserver); ok {
			ch.observers = append(ch.observers, o)
		}
	}
	if o, ok := h.(ConnObserver); ok {
		ch.observers = append(ch.observers, o)
	}
	return ch
}

type chain struct {
	first     Handler
	observers []ConnObserver
}

func (ch *chain) ServeRESP(ctx context.Context, w ReplyWriter, req *Request) {
	req.enter()
	ch.first.ServeRESP(ctx, w, req)
}

func (ch *chain) ObserveConn(ctx context.Context, c *Conn) context.Context {
	for _, o := range ch.observers {
		ctx = o.ObserveConn(ctx, c)
	}
	return ctx
}

// end is the handler at the end of a chain: it marks the requests that reach it (see
// Request.Bypassed).
type end struct{ h Handler }

func (e end) ServeRESP(ctx context.Context, w ReplyWriter, req *Request) {
	req.arrive()
	e.h.ServeRESP(ctx, w, req)
}

// link binds one middleware to what follows it. Links are built once by Chain; the
// middleware itself never sees or keeps next beyond one call.
type link struct {
	mw   Middleware
	next Handler
}

func (l *link) ServeRESP(ctx context.Context, w ReplyWriter, req *Request) {
	l.mw.ServeRESP(ctx, w, req, l.next)
}

var (
	_ Handler      = (*chain)(nil)
	_ ConnObserver = (*chain)(nil)
	_ Handler      = HandlerFunc(nil)
	_ Middleware   = MiddlewareFunc(nil)
)
