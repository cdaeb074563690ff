// Package rewrite is the middleware that changes commands before they are routed:
// renaming (and hiding) commands, denying them, and confining each connection to a key
// namespace by prefixing every key argument, found through router's Redis 7 command
// table. Keys in replies (KEYS, SCAN, the blocking pops, XREAD) lose the prefix again.
// See README.md for the rules.
//
// It belongs after auth and ratelimit (a namespace may depend on the authenticated
// user) and before the router (keys must be final before its fan-out hashes them).
//
// # Threading
//
// One Rewrite serves every connection of every event loop: its configuration is read
// only. ServeRESP runs on the connection's event loop, never blocks and never holds the
// connection. Rewritten commands are new commands (the request's arguments are never
// modified), built from per-connection chunks that are loop-only. A reply that loses the
// prefix is rewritten by a wrapping reply writer on whatever goroutine writes it.
package rewrite
