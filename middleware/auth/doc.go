// Package auth is the middleware that authenticates clients as Redis does: AUTH password,
// AUTH username password, and the AUTH option of HELLO. Until a connection has
// authenticated, every other command (but QUIT, RESET, which logs the client out, and
// HELLO without AUTH) is answered -NOAUTH and goes no further down the chain, and what it
// may send is limited as Redis limits it (proxy.Conn.SetAuthRequired: at most 10
// arguments of at most 16 KiB, checked from the command's header).
//
// Users are checked against a static list (Config.Users: passwords kept as SHA-256
// hashes, compared in constant time) or, for names not in it, by an asynchronous
// Authenticator that the user of the package implements. See README.md for the replies
// and for how it differs from Redis.
//
// # Threading
//
// One Auth serves every connection of every event loop at once: its configuration is
// read-only after New, and ServeRESP is safe for concurrent use. ServeRESP runs on the
// connection's event loop and never blocks it. The per-connection state (authenticated or
// not) lives under a proxy.ConnKey and is only touched on the connection's loop; the user
// name goes to Conn.SetUser.
//
// A static user is checked at once, on the loop. An Authenticator check holds the
// connection (proxy.Conn.Hold): Authenticate must return at once and call done later,
// from any goroutine; the result comes back to the loop through proxy.Conn.Post, where
// the state is set, the command is answered and the connection released.
//
// # Ordering
//
// While a check is in flight, the commands the client pipelined behind AUTH wait in the
// connection's pending queue, and run, in order, after the answer to AUTH: pipelined AUTH
// and PING give +OK then +PONG, never -NOAUTH. A check ends at the first of: done, the
// Timeout, the connection closing; whatever comes later is ignored.
package auth
