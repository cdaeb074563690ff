// Package redis is a [backend.Backend] for one Redis server: a few pipelined connections
// that many clients share.
//
// [New] opens Config.Conns connections (2 by default) and keeps them open, reconnecting
// in the background when they break. [Backend.Send] appends the command to its
// connection's write buffer and queues its callback; the connection's writer goroutine
// sends everything queued since its last write in one system call, so the commands of
// many clients travel together, and its reader goroutine matches replies to callbacks in
// order. A steady stream of commands and replies allocates nothing in the backend.
//
// # Big values
//
// A value of 100 MB is held once, not once per copy. A command handed over with its
// bytes (resp.Command.Owned, as the proxy hands over one of resp.BigFrame bytes or
// more) is not copied into the write buffer: it goes out from where it is, between the
// commands queued around it. A reply is read into a buffer of its size as soon as the
// length of its big bulk string is known, and one of resp.BigFrame bytes or more is
// handed over to its callback (resp.Value.Owned): its taker may keep it without a copy,
// and the backend reads on in a new buffer.
//
// # Event loops
//
// When a command's context carries an event loop (backend.WithLoop: the proxy's router
// passes the client connection's loop), the backend serves it on a connection of that
// loop instead: one connection per loop, made on first use, whose socket the loop itself
// reads and writes (backend.Loop.Attach). Commands queued during one turn of the loop go
// out in one write at its end, and replies reach their callbacks on the loop, where the
// client connections that wait for them live: no thread hand-off on the way, which is
// what makes a proxy fast on few cores. Everything else is the same: ordering, limits,
// timeouts, reconnection (dialling and the handshake run on a goroutine, never on the
// loop), and Send stays safe from any goroutine. Commands sent while a loop's first
// connection is being made wait for it (up to DialTimeout) instead of failing. Conns
// counts the shared connections only.
//
// # Dedicated connections and RESP3
//
// [Backend.Dedicate] lends one client a connection of its own (backend.Dedicator), for
// transactions, subscriptions, SELECT and blocking commands, which Send refuses on the
// shared connections. It is dialled in the background (commands wait for it), never
// reconnected (its state would be lost: later commands fail), given a timeout per
// command (a blocking command's own), and it tells pub/sub frames from replies: messages
// and unprompted unsubscriptions go to the push function, confirmations to the command
// that asked for them. Connections given back clean are kept for reuse (MaxIdle per loop
// and protocol). A context with backend.WithProtocol(ctx, 3) uses shared connections
// that speak RESP3 (HELLO 3 in the handshake). [Backend.Barrier] tells when a session's
// commands are all answered.
//
// # Ordering
//
// A session (see [backend.WithSession]) always uses connection id % Conns, and commands
// are written in the order Send queued them, so the commands of one session reach Redis
// in Send order, and the callbacks of their replies run in that order, one at a time, on
// the connection's reader goroutine (or its event loop). Errors are not ordered so: when a connection fails,
// the commands waiting on it fail on the goroutine that noticed, possibly while the reader
// still hands out earlier replies or while a later Send fails at once. Which commands
// fail is ordered, though: a failure fails every command not yet answered on the
// connection, so the commands answered there before it are those queued first. Commands
// without a session are spread over the connections round-robin and keep no order
// between them.
//
// # Threading
//
// Send and Close are safe for concurrent use from any goroutine. Send never blocks on the
// network: it takes a short lock that is never held across I/O or a callback. Callbacks
// run on the connection's reader goroutine for replies, and on the goroutine that
// noticed a failure (a reader, a writer, the timeout watcher, Close, or Send itself) for
// errors; a slow callback delays the replies behind it on its connection. A callback may
// call Send, but not Close, which waits for the reader. The reply given to a callback
// points into the read buffer and is valid only until the callback returns, unless it
// is Owned (see Big values).
//
// # Failures
//
// While a connection is down, Send fails at once with [backend.ErrUnavailable]; when
// MaxPending commands already wait on it, with [backend.ErrBusy]. A read or write error,
// a protocol error, or a reply nobody waits for takes the connection down: every command
// waiting on it fails at once with [backend.ErrConnLost] (it may or may not have run).
// When the server answers none of the waiting commands for CommandTimeout, the oldest
// fails with [backend.ErrTimeout] and the others with ErrConnLost: a pipelined connection
// cannot skip a reply, so it is closed. The connection then reconnects, with exponential
// backoff and jitter, and runs AUTH and SELECT before it takes commands again. After
// Close, Send fails with [backend.ErrClosed]. Errors are wrapped with the address, and
// errors.Is finds the backend errors in them. Every callback is called exactly once.
//
// The backend logs through Config.Logger: connections at Info level, disconnections with
// their reason and the first failed attempt of an outage at Warn, and further attempts at
// Debug, so that a server that stays down does not flood the log. A connection on an
// event loop that stops (the proxy shuts down) with no command waiting is a clean end:
// its disconnection is logged at Info.
//
// # Shared connections
//
// The connections carry many sessions, so commands that change a connection's state or
// the way the server answers on it would break the other sessions or the matching of
// replies. Send answers them with an error reply, without sending them: SELECT, AUTH,
// HELLO, RESET, QUIT, CLIENT REPLY, SUBSCRIBE and UNSUBSCRIBE (with their P and S
// variants), MONITOR, SYNC, PSYNC, and the transaction commands MULTI, EXEC, DISCARD,
// WATCH and UNWATCH (the commands of other sessions would join the transaction), and the
// blocking commands (BLPOP and its kin, WAIT), which would stall every session behind them. A proxy
// handles those itself, or uses a dedicated connection.
package redis
