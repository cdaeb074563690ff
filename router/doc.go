// Package router holds the terminal handler of a proxy's chain: it sends commands to a
// backend.Backend and writes their replies.
//
// Forward routes every command by its class in the command model (package command),
// which says, for every command and subcommand Redis has, whether a server connection
// that other clients share may carry it:
//
//   - shared and every-shard commands go over the backend's shared connections, tagged
//     with the client connection as a backend session (backend.WithSession), so that
//     the backend keeps the client's commands in order on one server connection;
//     those that run scripts (EVAL, EVALSHA, FCALL and their read-only forms) over the
//     shared connections of scripts (backend.WithScripts), so that a script that runs
//     long delays no other client: while it runs, the server answers the others -BUSY,
//     as it answers a client of its own. A client that moves between the two kinds
//     waits for its commands on the one it leaves (backend.Barrierer), so its order
//     is kept;
//   - dedicated commands go over a server connection of the client's own (see below);
//   - local commands are answered here: HELLO, RESET, CLIENT ID/SETNAME/GETNAME/INFO/
//     SETINFO/NO-EVICT, ACL WHOAMI, REPLCONF (whose ACK gets no reply, as from Redis),
//     READONLY, READWRITE, ASKING and CLUSTER (the proxy presents a standalone
//     server), and Redis's errors for an unknown subcommand or a wrong number of
//     arguments; QUIT is answered by package proxy;
//   - control commands (SCRIPT KILL, FUNCTION KILL, FUNCTION STATS, CLIENT UNPAUSE) go
//     on a connection of their own to every server of the backend, so that they reach a
//     server whose script is running ahead of what its shared connections queued;
//   - refused commands (SHUTDOWN) get an error;
//   - a command the model does not know runs on a connection of the client's own,
//     which the client keeps; once [Learn] has read the server's command list, one the
//     server does not have either gets Redis's unknown-command error here.
//
// # Sessions and state
//
// Forward keeps a session per client connection. When the backend is a
// backend.Dedicator (backend/redis, backend/cluster, backend/shard), a client that enters a state a
// shared connection cannot hold — MULTI, WATCH, SUBSCRIBE and the other subscriptions,
// SELECT of a database other than 0, a blocking command (BLPOP, BLMOVE, BZPOPMIN, XREAD
// BLOCK, WAIT...), CLIENT TRACKING, AUTH to the server's users, SCRIPT DEBUG — borrows a
// dedicated server connection and keeps it while it holds any state; the shared
// connections are never blocked by it. State the proxy does not follow (tracking,
// AUTH, SCRIPT DEBUG, a command the model does not know) keeps the connection for the
// client's life, and it is closed, never lent again, when the client leaves or RESETs.
// Commands of one client travel over one connection at a time: before a client moves
// between its shared and dedicated connections, the commands already sent on the old
// one are answered (the client is held meanwhile), so they run in order. Pub/sub
// messages, and the sunsubscribe Redis sends when a shard channel's slot moves, reach
// the client out of band (proxy.Conn.Push): they take no Seq. A RESP2 client that is
// subscribed may only (un)subscribe, PING, QUIT and RESET, as with Redis. Blocking
// commands wait for their own timeout plus a margin, not the backend's command timeout;
// a client that goes away while blocked has its server connection closed, so nothing is
// popped for nobody. If a dedicated connection holding state breaks, the client is
// disconnected, as a failing server would.
//
// HELLO may switch the protocol in any state: a dedicated connection that holds the
// client's state switches with it. Without an auth middleware in the chain, AUTH and
// HELLO AUTH log the client in to the server's own ACL users, so that the server's
// rules apply to it; the connection's user (proxy.Conn.User) is then the server's. With
// a backend that has connections per user (backend.Users: backend/redis), the client's
// commands then go over that user's connections, shared and multiplexed by all its
// clients; with another backend, over a dedicated connection kept for the client's
// life (on a cluster or shard set, one per server, each logged in: backend.NewPerShard).
// RESET logs the client out.
//
// In a transaction the server queues the client's commands; the proxy's own (CLIENT
// SETNAME, CLIENT ID...) are queued by the router and their replies put into EXEC's; a
// command the router refuses, or one a middleware answered before it reached the router
// (proxy.Request.Bypassed), fails the transaction as a command Redis refuses at queue
// time does (EXEC answers EXECABORT), and an EXEC or DISCARD a middleware answered ends
// it on the server too.
//
// # Connections of clients' own
//
// [WithOwnConnLimits] caps the server connections clients hold of their own (dedicated
// connections and streams) per client address, per user and in total; past a cap the
// command that needs one is refused, sent nowhere. [Forward.OwnConnStats] counts them.
//
// # Fan-out
//
// With [WithFanout], the router makes a sharded backend (backend.Sharded: backend/cluster,
// backend/shard) answer like one Redis: a multi-key command whose keys live in several
// groups (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) is split by group and the parts'
// replies merged; whole-keyspace commands (KEYS, SCAN, DBSIZE, FLUSHALL, SCRIPT LOAD,
// INFO, PUBSUB CHANNELS...) go to every shard and are merged; other commands whose keys
// span groups get -CROSSSLOT; SORT's BY and GET patterns and STORE are read and written
// where their keys live; FanoutConfig.MaxShards caps the shards one command may touch.
// A client that holds state on a dedicated connection (other than a WATCH) has its
// commands sent whole, and the parts of a split command go over the shared connections
// with the client's session and protocol, after its earlier commands, so that they do
// not overtake them. While a script sent through the router runs past
// busy-reply-threshold, every shard is busy: commands Redis refuses with -BUSY then are
// refused for all shards, not only the script's. FANOUT.md lists each command's merge
// and the known gaps.
//
// Fan-out is part of the terminal because it must be: it hashes the keys the
// middleware in front made final, and it acts on what the router keeps of each client
// (which connections its commands may take now). It was a middleware,
// middleware/fanout, that had to sit last and changed that state through
// router.SharedLane; both are gone, and nothing outside the router can reach a
// client's session.
//
// # Streams and the proxy's clients
//
// MONITOR, SYNC and PSYNC make the client's connection a stream of a server connection
// of its own (backend.Tunneler), in both directions: redis-cli monitor and a replica's
// replication stream work through the proxy. On a backend of several shards that can
// tunnel to each (backend.ShardTunneler), SYNC and MONITOR are made of every shard's
// stream (for SYNC: the shards' snapshots merged into one, then every shard's commands;
// see FANOUT.md); PSYNC is refused there. CLIENT ID, LIST, KILL, UNBLOCK, INFO, REPLY
// and TRACKING's REDIRECT speak of the proxy's clients, by the IDs the proxy gave them;
// no client can list or kill the proxy's connections to the server. A client that a
// REDIRECT names gets a server connection of its own, if it has none yet, for its life:
// the invalidations go there. A client's
// dedicated connections and streams end before its QUIT is answered.
//
// # Threading
//
// A Forward is safe for concurrent use. Its ServeRESP runs on the client connection's
// event loop and never blocks; replies are written from the backend's goroutines (a
// split command's merged reply from the goroutine of its last part's reply).
package router
