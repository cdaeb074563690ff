// Package router holds the terminal handler of a proxy's chain: it sends commands to a
// backend.Backend and writes their replies.
//
// Forward sends every command to one backend, tagging each client connection as a
// backend session (backend.WithSession) so that the backend keeps the connection's
// commands in order on one server connection. It answers HELLO itself, since the
// protocol spoken to the client is the proxy's business (RESP2 today). QUIT is answered
// by package proxy; commands that cannot travel over a shared server connection are
// refused by the backend that shares it.
//
// The package also holds the Redis 7 command table (Lookup, Command): arity, flags and
// the positions of key arguments (Command.Keys), generated from a real Redis by
// `go generate ./router` and checked in. Middleware that touch keys (rewrite) and the
// routing of multi-key commands use it.
//
// # Threading
//
// A Forward and the command table are safe for concurrent use. Its ServeRESP runs on the client connection's
// event loop and never blocks; replies are written from the backend's goroutines.
package router
