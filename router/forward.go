package router

import (
	"context"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy"
)

// Forward is the terminal handler that sends every command to one backend.
type Forward struct {
	b       backend.Backend
	ded     backend.Dedicator // nil when b cannot lend connections
	barrier barrierer         // nil when b cannot tell
}

// barrierer is implemented by backends that can tell when a session's commands have
// all been answered (backend/redis).
type barrierer interface {
	Barrier(ctx context.Context, done func())
}

// New returns a Forward that sends commands to b. When b is a backend.Dedicator,
// clients may use transactions, blocking commands, pub/sub and SELECT: see the package
// doc.
func New(b backend.Backend) *Forward {
	f := &Forward{b: b}
	f.ded, _ = b.(backend.Dedicator)
	f.barrier, _ = b.(barrierer)
	return f
}

// ObserveConn makes each client connection a backend session, and tells the backend
// which event loop the connection's commands come from (backend.WithLoop), so that a
// backend that can serve its connections on that loop does.
func (f *Forward) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	f.open(c)
	return backend.WithLoop(backend.WithSession(ctx, c.ID()), c.Loop())
}

// ServeRESP sends the command to the backend, over the client's dedicated connection
// when it holds state; it answers HELLO, ECHO, RESET and CLIENT SETNAME/GETNAME/ID/
// INFO/SETINFO itself.
func (f *Forward) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	if c := req.Conn(); c != nil {
		if s := sessions.Get(c); s != nil && s.f == f {
			s.serve(ctx, w, req)
			return
		}
	}
	// A request without a connection (proxy.NewRequest): no session.
	s := session{f: f, proto: 2}
	if v, ok := s.local(req.Name(), req); ok && !req.Is("client") {
		w.WriteReply(v)
		return
	}
	f.b.Send(ctx, req.Command(), proxy.Callback(w))
}

var (
	_ proxy.Handler      = (*Forward)(nil)
	_ proxy.ConnObserver = (*Forward)(nil)
)
