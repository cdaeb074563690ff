package router

import (
	"context"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Forward is the terminal handler that sends every command to one backend.
type Forward struct {
	b backend.Backend
}

// New returns a Forward that sends commands to b.
func New(b backend.Backend) *Forward { return &Forward{b: b} }

// ObserveConn makes each client connection a backend session, and tells the backend
// which event loop the connection's commands come from (backend.WithLoop), so that a
// backend that can serve its connections on that loop does.
func (f *Forward) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	return backend.WithLoop(backend.WithSession(ctx, c.ID()), c.Loop())
}

// ServeRESP sends the command to the backend; HELLO it answers itself.
func (f *Forward) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	if req.Is("hello") {
		w.WriteReply(hello(req))
		return
	}
	f.b.Send(ctx, req.Command(), proxy.Callback(w))
}

// hello answers HELLO for the RESP2 protocol the proxy speaks today: HELLO or HELLO 2
// get the server description Redis gives; HELLO 3 gets -NOPROTO, which clients take as
// "fall back to RESP2". Options (AUTH, SETNAME) are refused: the proxy authenticates to
// the server itself, and an auth middleware authenticates clients.
func hello(req *proxy.Request) resp.Value {
	args := req.Args()
	if len(args) >= 2 && string(args[1]) != "2" {
		return resp.Error("NOPROTO", "sorry, this protocol version is not supported")
	}
	if len(args) > 2 {
		return resp.Error("ERR", "redchain: HELLO options are not supported; use AUTH through an auth middleware")
	}
	var id uint64
	if c := req.Conn(); c != nil {
		id = c.ID()
	}
	return resp.Array(
		resp.BulkString("server"), resp.BulkString("redis"),
		resp.BulkString("version"), resp.BulkString("7.0.0"),
		resp.BulkString("proto"), resp.Integer(2),
		resp.BulkString("id"), resp.Integer(int64(id)),
		resp.BulkString("mode"), resp.BulkString("standalone"),
		resp.BulkString("role"), resp.BulkString("master"),
		resp.BulkString("modules"), resp.Array(),
	)
}

var (
	_ proxy.Handler      = (*Forward)(nil)
	_ proxy.ConnObserver = (*Forward)(nil)
)
