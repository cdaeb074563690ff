// Package mirror is a middleware that sends a copy of its clients' commands to a second
// backend, the shadow, to try a new server, version or configuration under real traffic.
// It is written as any third-party middleware would be: it uses only the public API of
// redchain (proxy, backend, command, resp), and its tests only the public test kits
// (redistest, proxytest).
//
// Every command goes on to the next handler (the primary backend, through the router)
// unchanged, and its client gets the primary's reply, never later than without the mirror.
// A command that the command model lets travel over shared server connections
// (command.Shareable: reads and writes, GET, SET, EVAL, FLUSHALL...) is also sent to the
// shadow, unless its connection is in a state the shadow does not have (see below). The
// shadow's replies are discarded; they are compared with the primary's, and the outcome
// counted (Stats). Commands of a client's own connection (MULTI, SELECT, SUBSCRIBE, BLPOP,
// AUTH...) are never sent to the shadow: it has no such connection for them.
//
// # Per-connection state
//
// Some commands change what later commands of their connection mean. A connection is not
// mirrored while it is in a transaction (from MULTI to EXEC or DISCARD: the shadow would
// run at once commands the primary only queues), after it selected a database other than
// 0 (until SELECT 0), or once it has subscribed (until RESET). A client that speaks
// RESP3 (proxy.Conn.Protocol) is mirrored over RESP3 (backend.WithProtocol), so that both
// replies are in the same protocol.
//
// # Bounds
//
// At most Config.MaxInflight mirrored commands wait for the shadow's reply at once;
// beyond that a command is not mirrored and is counted as dropped. A slow or dead shadow
// thus costs nothing but those copies: backend.Backend.Send never blocks, and a shadow that is down
// fails its copies at once (counted as errors).
//
// # Threading
//
// ServeRESP runs on the client connection's event loop, as every middleware does, and
// never blocks it. Stats is safe from any goroutine. The shadow's replies arrive on
// whatever goroutine its backend calls back on (the client's event loop, for a
// backend/redis given the connection's context).
package mirror
