// Package cluster is a [backend.Backend] for a Redis Cluster: it sends each command to
// the node that serves the hash slot of its keys, follows the cluster's redirections,
// and keeps its slot map up to date by itself, through failovers and resharding,
// without a restart.
//
// [New] reads the slot map from Config.Seeds and makes one backend/redis [redis.Backend]
// per node, from the Config.Redis template, so that connections, pipelining, event
// loops, sessions and reconnection work per node exactly as with backend/redis.
// [Backend.Send] finds the command's keys in the router's command table (router.Lookup,
// Command.Keys), their slot (router.Slot), and hands the command, with the caller's
// ctx, to the backend of the node that serves the slot:
//
//   - Keys in one slot (hash tags make sure of it: "{user1}.a" and "{user1}.b" share
//     the slot of "user1"): the slot's primary, or, with ReadFrom [Replica], one of its
//     replicas for read-only commands.
//   - Keys in different slots: -CROSSSLOT Keys in request don't hash to the same slot,
//     Redis's own reply; the command is not sent. Splitting multi-key commands by slot
//     is the job of the router's fan-out (router.WithFanout), with the
//     [backend.Sharded] methods ([Backend.Locate], [Backend.Shards], [Backend.SendShard]).
//   - No key (PING, INFO, SCAN, an unknown command): the primary of shard
//     session % Shards(), so that a client connection's keyless commands (a SCAN and its
//     cursor) stay on one node while the topology does not change; shard 0 without a
//     session. An unknown command that does name a key is thus sent to some node, which
//     answers -MOVED if the key is elsewhere: not followed (see Redirections).
//   - PUBLISH and PUBSUB: shard 0's primary. Redis Cluster delivers a message to the
//     subscribers of every node, but PUBLISH counts only the receivers of the node it
//     ran on; the proxy's subscriber connections are on shard 0 (see [Backend.Dedicate]),
//     so the count is right for them.
//   - A slot that no node serves: -CLUSTERDOWN Hash slot not served, at once.
//   - An empty command: -ERR empty command.
//
// Commands that cannot share a connection (MULTI, SUBSCRIBE, BLPOP, ...) are refused by
// the node backends, as by backend/redis; the proxy's router sends them on connections
// lent by [Backend.Dedicate], bound to one node.
//
// # Redirections
//
// Send keeps a copy of the command's arguments until its final reply, to send it again
// when the cluster redirects it; the copies live in a pool, so that a steady stream of
// commands allocates nothing. At most Config.MaxRedirects redirections are followed per
// command. A redirection names a node, so none reaches the caller as it is: one that is
// not followed (after MaxRedirects, for a command without keys or of another slot, a
// script's -ASK, or when too many commands wait for a refresh) is answered
// -TRYAGAIN backend slot moving; the command did not run, and may be sent again.
//
//   - -MOVED slot host:port: the slot now lives on that node. The slot map is changed at
//     once (the next command for the slot goes straight there), a refresh is asked for,
//     and the command is sent to the node. A -MOVED from a replica sends the read to the
//     primary it names.
//   - -ASK slot host:port: the slot is migrating and this key is on the target already.
//     ASKING and the command are sent to the target back to back, on one connection of
//     the command's session (or event loop; a command without either gets a session of
//     its own), with ASKING's reply dropped; the slot map does not change. Should another
//     session's command slip in between on a shared connection, the command gets a
//     -MOVED back to the source, which answers -ASK again: one more redirection.
//   - A redirection to a node the backend has not connected to yet (a replica just
//     promoted, a node just added) waits for the next refresh, which connects to it, and
//     the command is then routed again by its slot.
//   - -TRYAGAIN (a multi-key command whose keys are split by a migration) is retried up
//     to 3 times, each after the next refresh, so at least MinRefreshInterval apart;
//     then the client gets it.
//
// Commands waiting for a refresh are bounded (4096); beyond, they get -TRYAGAIN (the
// server's own, or backend slot moving for a redirection).
//
// # Topology and refresh
//
// The slot map is an immutable snapshot that Send reads without a lock; the refresher,
// the backend's one goroutine, replaces it. It reads CLUSTER SHARDS (Redis 7), or
// CLUSTER SLOTS from a node that does not know SHARDS, on a short-lived connection of
// its own (bounded by RefreshTimeout), from the node that answered last time, then the
// other known nodes, primaries first, then the seeds. It refreshes every
// RefreshInterval, and sooner when asked: by a -MOVED, a node connection that fails or
// is down (backend.ErrConnLost, ErrUnavailable, ErrTimeout), and the replies
// -CLUSTERDOWN, -TRYAGAIN, -LOADING, -READONLY and -MASTERDOWN. Asks are debounced: at
// most one refresh per MinRefreshInterval, however many failures ask; after refreshes
// that reached no node, the interval doubles up to RefreshInterval.
//
// A refresh connects to new nodes before it publishes the map: a backend for each
// primary, and for each replica with ReadFrom Replica (replicas serving no reads get one
// only when a redirection needs it). Nodes that left the topology keep their backend
// for 10 seconds, so that commands in flight get their replies, then it is closed.
//
// # Failures and failover
//
// While a node is down its backend reconnects with backend/redis's backoff, and the
// commands for its slots fail at once with [backend.ErrUnavailable] (or ErrConnLost for
// those in flight when it broke): they do not wait. Each failure asks for a refresh, so
// the backend reads the slot map every MinRefreshInterval while the outage lasts, and
// sends the slot's commands to the new primary as soon as the cluster has promoted a
// replica; nothing needs a restart. A manual failover (CLUSTER FAILOVER) is seen through
// -MOVED replies from the old primary, which the backend follows: no command fails. A
// command that failed is not sent again by the backend (it may have run), except a read
// that a replica could not take (not connected, -LOADING, -MASTERDOWN), which goes to
// the primary.
//
// # Addresses
//
// Nodes announce their addresses in CLUSTER SHARDS, CLUSTER SLOTS, -MOVED and -ASK.
// Config.AddrMap translates an announced "host:port" to the one to dial (NAT, containers);
// Config.Allow then lists the addresses that may be dialled. A node outside the
// allow-list is never dialled: it is logged once at Warn level, and the commands for its
// slots fail with [backend.ErrUnavailable] (the client reads -ERR backend unavailable;
// the node is named in the error, for the log, never to the client), while the other
// slots work. A node that is allowed but unreachable is retried with
// backend/redis's backoff only, and its slots fail fast meanwhile.
//
// # Ordering
//
// Send passes ctx on to the node's backend, so a session ([backend.WithSession]) and an
// event loop ([backend.WithLoop]) keep their meaning per node: the commands of one
// session for one node reach it in Send order. A command that is redirected is sent
// again after the ones sent after it, like with any cluster client; commands for
// different nodes are not ordered.
//
// # Threading
//
// New, Send, SendShard, Locate, Shards, NodeFor, Stats, Counters and Close are safe for
// concurrent use from any goroutine; Send and SendShard never block, and Send, Locate
// and Shards take no lock and allocate nothing in steady state. Callbacks run where the
// node backends run them: a node connection's reader goroutine, or the event loop of
// ctx (backend.WithLoop); the error replies the backend makes itself (CROSSSLOT, empty
// command, a refused node, no slot map) are given at once on the goroutine that called
// Send, before it returns, and a command that waited for a refresh is sent again, and
// may fail, on the refresher goroutine. The reply given to a callback is borrowed, as
// with every backend. Close must not be called from a callback.
package cluster
