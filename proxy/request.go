package proxy

import (
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/proxy/resp"
)

// Request is one command of a client connection. The server owns it: it stays valid
// until its reply is written, and is then reused for a later command. A handler that
// needs a command beyond its reply clones it (resp.Command.Clone).
type Request struct {
	conn *Conn
	seq  uint64
	cmd  resp.Command
	name []byte // lower-case command name

	chain    atomic.Int32  // chainNone, chainEntered or chainReached
	bypassed []string      // see Bypassed
	wait     time.Duration // see AllowReplyAfter; 0: the server's reply timeout
}

// AllowReplyAfter lets the reply of a command that blocks on purpose come up to d after
// the command entered the chain, where that is later than the server's reply timeout
// (WithReplyTimeout) allows; a negative d lets it come whenever it comes. For BLPOP k 0,
// which waits for ever, and BLPOP k 120, which waits two minutes, as Redis lets them.
// Loop-only: call it while serving the request.
func (r *Request) AllowReplyAfter(d time.Duration) {
	if d < 0 || r.wait >= 0 && d > r.wait {
		r.wait = d
	}
}

// Where a request is in a Chain.
const (
	chainNone    = iota // it entered none
	chainEntered        // it entered one
	chainReached        // it reached the end of one
)

// maxBypassed bounds the names a connection keeps for Bypassed.
const maxBypassed = 64

// Bypassed returns the names (lower case) of the commands of the request's connection
// that came after the previous command to reach the end of a [Chain] (its handler, such
// as the router) and were answered before they reached it: a middleware refused them
// (a rate limit, a denied command) or answered them itself. Each name comes once, in
// the order it first came, and 64 at most but for EXEC and DISCARD: that is all the
// end of a chain needs to keep the state those commands would have changed, as Redis
// keeps it (a command answered so inside a transaction fails the transaction; an EXEC
// answered so ends it), and the memory a client can make the proxy keep stays bounded. nil for most requests. It
// is set when the request reaches the end of a chain. Loop-only.
func (r *Request) Bypassed() []string { return r.bypassed }

// enter marks the request as having entered a chain.
func (r *Request) enter() { r.chain.CompareAndSwap(chainNone, chainEntered) }

// arrive marks the request as having reached the end of a chain, and takes the names of
// the commands that did not since the last one that did.
func (r *Request) arrive() {
	r.chain.Store(chainReached)
	if r.conn != nil {
		r.bypassed = r.conn.takeBypassed()
	}
}

// Conn returns the client connection the command came from.
func (r *Request) Conn() *Conn { return r.conn }

// Seq returns the command's sequence number on its connection: 0 for the first command,
// then 1, 2, ... Replies leave in Seq order.
func (r *Request) Seq() uint64 { return r.seq }

// Command returns the command. Its Raw field holds the bytes it arrived as, when it
// arrived as a RESP array and has not been changed.
func (r *Request) Command() resp.Command { return r.cmd }

// Args returns the command's arguments, name first. Do not modify them; use SetCommand.
func (r *Request) Args() [][]byte { return r.cmd.Args }

// Name returns the command's name in lower case ("get", "client"). Do not modify it.
func (r *Request) Name() []byte { return r.name }

// Is reports whether the command's name is name, ignoring case. name must be lower case.
func (r *Request) Is(name string) bool { return string(r.name) == name }

// SetCommand replaces the command that later handlers in the chain see, for middleware
// that rewrite commands. cmd must stay valid until the reply is written (it is not
// copied). Loop-only: call it while serving the request, before passing it on.
func (r *Request) SetCommand(cmd resp.Command) {
	r.cmd = cmd
	r.name = appendLower(r.name[:0], firstArg(cmd))
}

func firstArg(cmd resp.Command) []byte {
	if len(cmd.Args) == 0 {
		return nil
	}
	return cmd.Args[0]
}

// maxNameLen bounds the lower-cased copy of a command name; longer names are not commands.
const maxNameLen = 64

func appendLower(dst, name []byte) []byte {
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// String returns the command, quoted, for messages and tests.
func (r *Request) String() string { return r.cmd.String() }

// NewRequest returns a request for cmd on a new detached connection, for calling a
// handler directly in a unit test or a benchmark (see proxytest.Recorder): a working
// Conn (ConnKey, User, Protocol, Hold, Post, Push) that no client is behind and no
// server reads. Functions given to its Post run on a goroutine of the connection's own,
// one at a time; releasing a Hold runs nothing, since no command waits; a Push is
// dropped. The caller stands for the connection's loop: it calls the handler, and
// loop-only methods, from one goroutine at a time. For a handler that is served as a
// client would have it (pipelines, holds, pushes, QUIT), use a real connection without
// a socket: proxytest.NewPipeServer.
func NewRequest(cmd resp.Command) *Request {
	return NewRequestOn(newDetachedConn(), cmd)
}

// NewRequestOn returns a request for cmd on c, a connection of an earlier NewRequest:
// for a unit test of what a handler keeps per connection (AUTH, then a command).
func NewRequestOn(c *Conn, cmd resp.Command) *Request {
	return &Request{conn: c, cmd: cmd, name: appendLower(nil, firstArg(cmd))}
}
