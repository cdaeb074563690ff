package backend

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/proxy/resp"
)

// Dedicator is implemented by backends that can lend one client a server connection of
// its own, for the state that cannot share one: a transaction (MULTI, WATCH), a
// subscription, a database chosen with SELECT, a command that blocks (BLPOP). The
// proxy's router borrows one when a client enters such a state and gives it back when
// the client leaves it. It is optional: find it by type assertion.
type Dedicator interface {
	// Dedicate returns a connection for the session of ctx to the server that serves
	// key (any server when key is nil; a cluster binds a nil-key connection to the
	// server of the first command with a key). It never blocks: the connection may
	// still be dialling, and commands sent meanwhile wait for it; if it cannot be made
	// they fail with ErrUnavailable. ctx carries the session's event loop and protocol
	// (WithLoop, WithProtocol).
	//
	// push receives the frames the server sends without being asked: pub/sub messages,
	// server-initiated unsubscriptions (Redis 7 sends sunsubscribe when a slot moves),
	// RESP3 pushes. They are borrowed until push returns. push runs on the backend's
	// goroutines, or on ctx's event loop.
	Dedicate(ctx context.Context, key []byte, push func(resp.Value)) Dedicated
}

// Dedicated is a server connection lent to one client.
type Dedicated interface {
	// Send sends cmd on the connection, after every command sent before it, and calls
	// done exactly once with its reply or an error, like Backend.Send. A command that
	// subscribes or unsubscribes is answered with all of its confirmations, one frame
	// after another in one raw value. timeout bounds the wait for the reply: 0 is the
	// backend's command timeout, a negative one none (a command that blocks for ever).
	// A connection that broke or timed out fails every later command: its state is
	// gone, and the client should be told so.
	Send(cmd resp.Command, timeout time.Duration, done func(resp.Value, error))
	// Subscriptions returns how many channels, patterns and shard channels the
	// connection is subscribed to, counting the commands sent but not answered yet and
	// the unsubscriptions the server sent unasked.
	Subscriptions() int
	// Release gives the connection back: the caller has left every state it entered
	// (the transaction ended, no subscription left, database 0 selected again), so that
	// the backend may lend it to another client once its replies are all in.
	Release()
	// Close closes the server connection, with whatever state it holds: a client that
	// went away while blocked in BLPOP must not pop an element for nobody. Commands
	// waiting fail with ErrClosed.
	Close()
}

type protocolKey struct{}

// WithProtocol returns a copy of ctx that carries the RESP version (2 or 3) its session
// speaks, so that a backend sends its commands over server connections speaking it: the
// replies then need no translation. Without it a backend speaks RESP2.
func WithProtocol(ctx context.Context, proto int) context.Context {
	return context.WithValue(ctx, protocolKey{}, proto)
}

// ProtocolFrom returns the RESP version carried by ctx, 2 when none is.
func ProtocolFrom(ctx context.Context) int {
	if p, ok := ctx.Value(protocolKey{}).(int); ok && p == 3 {
		return 3
	}
	return 2
}

// Tunneler is implemented by backends that can give a client a server connection in
// both directions, as raw bytes: for the commands after which a connection no longer
// answers command by command, but streams (MONITOR, SYNC, PSYNC). It is optional: find
// it by type assertion.
type Tunneler interface {
	// Tunnel dials a connection for the session of ctx (to the server of key on a
	// sharded backend; any, with a nil key). Everything the server sends on it goes to
	// recv, in order, in pieces as they arrive, borrowed until recv returns; closed is
	// called once when the connection ends (the server closed it, it broke, or Close
	// was called), with why. Both run on the backend's goroutines or ctx's event loop.
	// It never blocks: commands written while it dials wait for it.
	Tunnel(ctx context.Context, key []byte, recv func([]byte), closed func(error)) Tunnel
}

// Tunnel is a server connection given to one client as a stream.
type Tunnel interface {
	// Write sends cmd on the connection, after what was written before. Safe from any
	// goroutine; it never blocks.
	Write(cmd resp.Command)
	// Close closes the connection.
	Close()
}

// ShardDedicator is implemented by sharded backends that can lend a connection to the
// primary of one shard (0 <= shard < Shards()): for the commands a proxy sends to every
// shard on a connection of its own, such as SCRIPT KILL, which must reach the server
// whose script is running ahead of the commands queued behind that script. It is
// optional: find it by type assertion.
type ShardDedicator interface {
	Sharded
	// DedicateShard is Dedicator.Dedicate for the primary of shard i. A shard number
	// out of range gives a connection whose commands fail with ErrUnavailable.
	DedicateShard(ctx context.Context, i int, push func(resp.Value)) Dedicated
}

// ShardTunneler is implemented by sharded backends that can give a stream connection
// (see Tunneler) to the primary of one shard (0 <= shard < Shards()): for a stream the
// proxy merges from every shard, such as a replica's SYNC. It is optional: find it by
// type assertion.
type ShardTunneler interface {
	Sharded
	// TunnelShard is Tunneler.Tunnel to the primary of shard i. A shard number out of
	// range, or a shard without a server, gives a tunnel closed at once (closed is
	// called with why) that writes nothing.
	TunnelShard(ctx context.Context, i int, recv func([]byte), closed func(error)) Tunnel
}

// Unavailable is a Dedicated connection to no server: each command sent on it fails
// with ErrUnavailable. Backends lend it where no server can take the connection.
type Unavailable struct{}

// Send calls done with ErrUnavailable.
func (Unavailable) Send(_ resp.Command, _ time.Duration, done func(resp.Value, error)) {
	done(resp.Value{}, ErrUnavailable)
}

// Subscriptions returns 0.
func (Unavailable) Subscriptions() int { return 0 }

// Release does nothing.
func (Unavailable) Release() {}

// Close does nothing.
func (Unavailable) Close() {}

// Users is implemented by backends that can serve a client logged in to the server as
// one of its ACL users over connections of that user's own, shared and multiplexed as
// the backend's are: a proxy that passes AUTH to the server then runs each client's
// commands with its user's rights, without a server connection per client. It is
// optional: find it by type assertion.
type Users interface {
	// AsUser returns the backend whose connections log in as user with password
	// (AUTH user password, at dial), made on first use and shared by every caller that
	// asks for the same user and password. release gives the caller's share back; the
	// backend closes a while after the last share is given back. It never blocks:
	// connections are dialled in the background, and if they cannot log in (a password
	// changed since) commands fail with ErrUnavailable.
	AsUser(user, password string) (b Backend, release func())
}

// Unblocker is implemented by dedicated connections that reach several servers
// (NewPerShard's): Unblock ends the wait of the blocking command the connection carries,
// as CLIENT UNBLOCK id TIMEOUT|ERROR (mode) on the server it waits on, and done gets
// that reply, 0 when nothing waits. The proxy's router uses it for a client's CLIENT
// UNBLOCK of another client. It is optional: find it by type assertion.
type Unblocker interface {
	Unblock(mode string, done func(resp.Value, error))
}

// Barrierer is implemented by backends that can tell when the commands a session sent
// have all been answered: the proxy's router waits for that before it moves a client
// from the shared connections to a dedicated one, so that nothing the client sent
// later overtakes them. It is optional: find it by type assertion; a Dedicator without
// it gets commands that may overtake those sent just before.
type Barrierer interface {
	// Barrier calls done once every command sent before it with ctx's session has
	// been answered or has failed. It sends nothing. done may run before Barrier
	// returns, or on the backend's goroutines or ctx's event loop.
	Barrier(ctx context.Context, done func())
}

// BarrierAll is Barrier over several backends (a sharded backend's): done runs once
// every one of bs has called its own. Safe from any goroutine.
func BarrierAll(ctx context.Context, bs []Barrierer, done func()) {
	if len(bs) == 0 {
		done()
		return
	}
	var left atomic.Int32
	left.Store(int32(len(bs)))
	for _, b := range bs {
		b.Barrier(ctx, func() {
			if left.Add(-1) == 0 {
				done()
			}
		})
	}
}
