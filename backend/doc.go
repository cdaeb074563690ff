// Package backend defines what a proxy sends commands to: a [Backend].
//
// Implementations live in sub-packages: backend/redis talks to one Redis server over a
// few pipelined, multiplexed connections; backend/cluster to a Redis Cluster, and
// backend/shard to a consistent-hash shard set, both through backend/redis. They follow
// the same contract, so a proxy's terminal handler does not care which one it has.
//
// Optional capabilities are small interfaces found by type assertion: [StatsReporter];
// [Sharded] (several shards: the router's fan-out splits commands by them);
// [Dedicator] (a server connection lent to one client for transactions,
// subscriptions, SELECT and blocking commands); [ShardDedicator]; [Barrierer] (tells
// when a session's commands are all answered, so that the router moves a client
// between connections without its commands overtaking one another); [Unblocker];
// [Tunneler] (a server connection as a raw stream: MONITOR, SYNC); [ShardTunneler] (the
// same to one shard's primary, for a SYNC merged from every shard); [Users]
// (connections of one of the server's ACL users).
// [WithProtocol] asks for server connections speaking RESP3.
//
// # Contract
//
// Send never blocks: it queues the command and returns. done is called exactly once, from
// any goroutine (possibly before Send returns, for an immediate failure), with the reply or
// a Go error for a transport failure: one of this package's errors, wrapped with the
// server and the cause, whose client text names no server (see [ErrUnavailable] and the
// others, and ERRORS.md at the root of the module). Commands sent with the same session
// (see [WithSession]) reach the server in the order they were sent, over the same
// connection, so Redis executes them in that order.
//
// The reply handed to done is borrowed: it may point into the backend's read buffer, and
// is valid only until done returns. Copy it ([resp.Value.Clone]) to keep it, unless it
// is Owned ([resp.Value.Owned]: a big reply whose buffer is handed over and never written
// again), which may be kept as it is. Likewise a command sent Owned
// ([resp.Command.Owned], a big value from a client) is handed over: the backend may
// write it from where it is, uncopied, and never modifies it.
//
// # Threading
//
// Every method of a Backend is safe for concurrent use.
package backend
