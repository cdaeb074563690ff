// Package proxy is the core of redchain: a Redis protocol server on gnet event loops that
// passes each client command through a chain of middleware to a terminal handler, and
// writes the replies back in request order.
//
// WRITING-MIDDLEWARE.md, at the top of the module, is the guide for authors of
// middleware: the handler model, per-connection state, reply ownership, sending to a
// second backend, errors, and testing with the public kits.
//
// # The path of one command
//
// A connection's bytes are parsed (package resp) into commands; each gets a sequence
// number (Request.Seq) and a slot in the connection's reorder ring. Commands enter the
// chain (Chain) one at a time, in order, on the connection's event loop. Each command
// owes exactly one reply to its ReplyWriter, written before the handler returns (the fast
// path: no allocation, no goroutine) or later from any goroutine (a backend's callback).
// Replies leave the connection strictly in sequence order, whatever order they were
// written in.
//
// # Contracts
//
//   - Order of replies: by sequence number, always. The ring holds at most MaxInflight
//     commands; when it is full the server stops reading the connection (backpressure),
//     it never grows beyond that.
//   - Order of execution: commands enter the chain in order. A middleware that must wait
//     (an asynchronous AUTH, a rate-limit delay) calls Conn.Hold; later commands of that
//     connection then wait in its pending queue and enter the chain, from its head, after
//     release. Pipelined AUTH + PING gives +OK then +PONG, never -NOAUTH.
//   - Exactly one reply: a second reply is refused (WriteReply returns false) and logged;
//     a reply that comes after the proxy answered the command itself (the reply timeout,
//     WithReplyTimeout) or after the connection closed is dropped.
//   - Bad input is answered, not fatal: a protocol error gets "-ERR Protocol error: ..."
//     after the replies before it, and the connection is closed; a panic in a handler
//     becomes "-ERR internal error" for that command and a log line. Other connections
//     and the process go on.
//   - Errors name no server: a backend's transport error reaches the client as
//     ErrorReply of it, a fixed text ("-ERR backend timeout"); the server and the cause
//     are for the log. ERRORS.md, at the root of the module, lists every error reply the
//     proxy, the router and the backends make up.
//
// # Threading
//
// Each connection belongs to one event loop. Handlers and middleware run on it, never
// concurrently for one connection, and must not block it: no network I/O, no waiting, no
// lock held across I/O. Work that takes time happens elsewhere and comes back with
// Conn.Post, or simply writes its reply from wherever it finishes. Methods say whether
// they are loop-only or safe from any goroutine. Per-connection state lives under a
// ConnKey and is loop-only.
//
// # Connections from elsewhere
//
// Server.ServeConn serves a net.Conn that the server's listener did not accept (a
// net.Pipe in a test, a connection of a listener of the caller's own) on an event loop
// of its own, run by goroutines, with the same contracts. The default number of gnet
// loops is DefaultEventLoops: one per CPU but one.
//
// # Shutdown
//
// Server.Shutdown stops accepting and reading, lets every command already read finish and
// its reply reach the client, then closes the connections.
package proxy
