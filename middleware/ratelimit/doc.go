// Package ratelimit is the middleware that limits how fast clients may send commands,
// with token buckets (golang.org/x/time/rate) kept per connection, per client IP, per
// authenticated user (proxy.Conn.User; unauthenticated connections by IP) or for the
// whole proxy.
//
// A command without a token is refused with "-ERR rate limit exceeded: ..." (Reject), or
// held back until its token comes (Delay), up to MaxDelay. It belongs after auth in the
// chain, so that Per: User limits authenticated users, and before the middleware that do
// work. See README.md.
//
// # Threading
//
// One Limiter serves every connection of every event loop at once: ServeRESP is safe for
// concurrent use and never blocks the loop. Per-connection buckets live in the
// connection's state (a proxy.ConnKey, loop-only). Per-IP and per-user buckets live in a
// map split into shards with a mutex each, looked up once per connection (and again when
// its user changes); the global bucket is one rate.Limiter, which has its own mutex.
//
// # Ordering
//
// In Delay mode a command that must wait holds its connection (proxy.Conn.Hold): later
// commands of the connection wait in its pending queue and go through the limiter after
// it, in order. The wait is a timer, and the command comes back to the connection's loop
// with proxy.Conn.Post, so the loop serves other connections meanwhile. A request with no
// connection (proxy.NewRequest) is passed on from the timer's goroutine instead.
package ratelimit
