package router

import (
	"context"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Forward is the terminal handler that sends every command to one backend.
type Forward struct {
	backends
	users   backend.Users // nil when b cannot log in as the server's users
	clients clients       // the sessions, by client ID
}

// backends is where commands go: the Forward's backend, or, for a session that logged
// in as one of the server's users, that user's (backend.Users).
type backends struct {
	b       backend.Backend
	ded     backend.Dedicator // nil when b cannot lend connections
	barrier backend.Barrierer // nil when b cannot tell
}

// backendsOf returns b with what it can do.
func backendsOf(b backend.Backend) backends {
	bs := backends{b: b}
	bs.ded, _ = b.(backend.Dedicator)
	bs.barrier, _ = b.(backend.Barrierer)
	return bs
}

// New returns a Forward that sends commands to b. When b is a backend.Dedicator,
// clients may use transactions, blocking commands, pub/sub and SELECT: see the package
// doc.
func New(b backend.Backend) *Forward {
	f := &Forward{backends: backendsOf(b)}
	f.users, _ = b.(backend.Users)
	return f
}

// ObserveConn makes each client connection a backend session, and tells the backend
// which event loop the connection's commands come from (backend.WithLoop), so that a
// backend that can serve its connections on that loop does.
func (f *Forward) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	f.open(c)
	ctx = backend.WithSession(ctx, c.ID())
	if lp := c.Loop(); lp != nil {
		ctx = backend.WithLoop(ctx, lp)
	}
	return ctx
}

// ServeRESP routes the command by its class (see the package doc): over the backend's
// shared connections, over the client's dedicated connection, answered here, or
// refused.
func (f *Forward) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	if c := req.Conn(); c != nil {
		if s := sessions.Get(c); s != nil && s.f == f {
			s.serve(ctx, w, req)
			return
		}
	}
	// A request without a connection (proxy.NewRequest): no session, so no state.
	args := req.Args()
	c, refusal := command.Check(args)
	if c == nil {
		w.WriteReply(refusal)
		return
	}
	switch c.ClassOf(args) {
	case command.Shared, command.EveryShard:
		f.b.Send(ctx, req.Command(), proxy.Callback(w))
	case command.Local:
		s := session{f: f, proto: 2}
		if c.Effect == command.EffectProtocol {
			h, refusal := s.parseHello(args)
			if refusal.Type == 0 {
				refusal = helloReply(h.proto, 0)
			}
			w.WriteReply(refusal)
			return
		}
		w.WriteReply(s.local(c, args))
	case command.Refused:
		w.WriteReply(refused(c))
	default:
		w.WriteReply(resp.Error("ERR", "redchain: "+displayName(c)+" needs a client connection"))
	}
}

var (
	_ proxy.Handler      = (*Forward)(nil)
	_ proxy.ConnObserver = (*Forward)(nil)
)
