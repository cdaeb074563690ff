package backend

import (
	"context"
	"net"

	"github.com/redchain/redchain/proxy/resp"
)

// Backend sends commands to one or more Redis servers.
type Backend interface {
	// Send queues cmd and calls done exactly once with its reply or a transport error.
	// It never blocks. cmd is not used after Send returns, unless it is Owned
	// (resp.Command.Owned): its bytes may then be kept and written uncopied. A reply may
	// be Owned too (resp.Value.Owned), for done to keep. See the package doc for the
	// ordering and memory contract.
	Send(ctx context.Context, cmd resp.Command, done func(resp.Value, error))
	// Close stops the backend: commands still waiting get ErrClosed, and later Sends fail
	// with it at once. Close waits for the backend's goroutines to end.
	Close() error
}

type sessionKey struct{}

// WithSession returns a copy of ctx that carries id, the identity of the client connection
// that commands sent with it belong to. A backend sends all commands of one session over
// the same server connection, in order. The proxy's router sets it once per client
// connection.
func WithSession(ctx context.Context, id uint64) context.Context {
	return context.WithValue(ctx, sessionKey{}, id)
}

// SessionFrom returns the session id carried by ctx, if any.
func SessionFrom(ctx context.Context) (id uint64, ok bool) {
	id, ok = ctx.Value(sessionKey{}).(uint64)
	return id, ok
}

// Func adapts a plain function to the Backend interface; Close does nothing. It is handy
// in tests and for backends that answer by themselves.
type Func func(ctx context.Context, cmd resp.Command, done func(resp.Value, error))

// Send calls f.
func (f Func) Send(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) {
	f(ctx, cmd, done)
}

// Close does nothing and returns nil.
func (Func) Close() error { return nil }

var _ Backend = Func(nil)

// Stats are a backend's gauges and counters, for metrics.
type Stats struct {
	Conns      int    // server connections the backend keeps
	ConnsUp    int    // of those, connected now
	Waiting    int    // commands sent or queued whose replies have not come yet
	Reconnects uint64 // connections made again after one broke
}

// StatsReporter is implemented by backends that report Stats. It is optional: find it
// by type assertion.
type StatsReporter interface {
	Stats() Stats
}

// Loop is an event loop that a backend may run its server connections on: that of the
// client connection a command comes from, so that the command and its reply never leave
// the loop's goroutine (no hand-off between threads). The proxy's *proxy.Loop implements
// it.
//
// The router puts the client connection's loop and session in the connection's context
// (WithLoop, WithSession, from its ObserveConn), which is the ctx every handler and
// middleware of the chain is served with, not only the router. A middleware that sends
// commands to a backend of its own (a second backend: a shadow, a cache) passes that ctx,
// or one derived from it (WithProtocol for a RESP3 client): the backend then keeps one
// client's commands in order and, when it supports loops, serves them on the client's
// loop, calling done there with their replies (a failure may call it from another
// goroutine). Send is safe from any goroutine whatever ctx carries. A ctx without them
// (context.Background) works too, at the cost of a hand-off between threads for each
// reply and of the order between one client's commands.
type Loop interface {
	// Post runs fn on the loop later and reports whether it will run (false once the
	// loop has stopped). Safe from any goroutine.
	Post(fn func()) bool
	// Attach hands nc to the loop, which then calls onData with what arrives and
	// onClose once at the end, both on the loop. write sends b without blocking and is
	// loop-only: b may be reused once it returns unless owned, which hands b over
	// (resp.Command.Owned) to go out, uncopied, as the socket takes it. closeConn is safe
	// from any goroutine. Attach must not be called on the loop.
	Attach(nc net.Conn, onData func([]byte), onClose func(error)) (write func(b []byte, owned bool), closeConn func() error, err error)
}

type scriptsKey struct{}

// WithScripts returns a copy of ctx for commands that run scripts (EVAL, FCALL; see
// command.Info.RunsScript). A backend that supports it sends them over shared
// connections of their own kind, so that a script that runs long delays no other
// command: while it runs the server answers the others -BUSY, as it answers a client of
// its own, instead of their waiting behind it. A session that moves between the two
// kinds must wait for its commands on the one it leaves (Barrierer, with the ctx they
// were sent with), or they may be overtaken.
func WithScripts(ctx context.Context) context.Context {
	return context.WithValue(ctx, scriptsKey{}, true)
}

// ScriptsFrom reports whether ctx is for commands that run scripts (WithScripts).
func ScriptsFrom(ctx context.Context) bool {
	v, _ := ctx.Value(scriptsKey{}).(bool)
	return v
}

type loopKey struct{}

// WithLoop returns a copy of ctx that carries the event loop of the client connection
// that commands sent with it come from (see Loop).
func WithLoop(ctx context.Context, l Loop) context.Context {
	return context.WithValue(ctx, loopKey{}, l)
}

// LoopFrom returns the event loop carried by ctx, if any.
func LoopFrom(ctx context.Context) (Loop, bool) {
	l, ok := ctx.Value(loopKey{}).(Loop)
	return l, ok
}
