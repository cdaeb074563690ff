// Package router holds the terminal handler of a proxy's chain: it sends commands to a
// backend.Backend and writes their replies.
//
// Forward sends every command to one backend, tagging each client connection as a
// backend session (backend.WithSession) so that the backend keeps the connection's
// commands in order on one server connection. QUIT is answered by package proxy.
//
// # Sessions and state
//
// Forward keeps a session per client connection. It answers HELLO 2/3 (a RESP3 client
// gets RESP3 replies: its commands travel over server connections speaking RESP3,
// backend.WithProtocol), ECHO, RESET and CLIENT SETNAME/GETNAME/ID/INFO/SETINFO itself.
// When the backend is a backend.Dedicator (backend/redis, backend/cluster), a client
// that enters a state a shared connection cannot hold — MULTI, WATCH, SUBSCRIBE and the
// other subscriptions, SELECT of a database other than 0, a blocking command (BLPOP,
// BLMOVE, BZPOPMIN, XREAD BLOCK, WAIT...) — borrows a dedicated server connection and
// keeps it while it holds any state; the shared connections are never blocked by it.
// Commands of one client travel over one connection at a time: before a client moves
// between its shared and dedicated connections, the commands already sent on the old
// one are answered (the client is held meanwhile), so they run in order. Pub/sub
// messages, and the sunsubscribe Redis sends when a shard channel's slot moves, reach
// the client out of band (proxy.Conn.Push): they take no Seq. A RESP2 client that is
// subscribed may only (un)subscribe, PING, QUIT and RESET, as with Redis. Blocking
// commands wait for their own timeout plus a margin, not the backend's command timeout;
// a client that goes away while blocked has its server connection closed, so nothing is
// popped for nobody. If a dedicated connection holding state breaks, the client is
// disconnected, as a failing server would. MONITOR, SYNC, CLIENT REPLY and CLIENT
// TRACKING are refused.
//
// The package also holds the Redis 7 command table (Lookup, Command): arity, flags and
// the positions of key arguments (Command.Keys), generated from a real Redis by
// `go generate ./router` and checked in; [Learn] adds the commands a server knows and
// the table does not (modules). Middleware that touch keys (rewrite) and the routing of
// multi-key commands use it, with [Slot] (Redis Cluster's hash slot, hash tags honoured)
// and [Split] (one command per group of keys, for middleware/fanout).
//
// # Threading
//
// A Forward and the command table are safe for concurrent use. Its ServeRESP runs on the client connection's
// event loop and never blocks; replies are written from the backend's goroutines.
package router
