// Package command is redchain's model of Redis's commands: the one place that knows
// what a command does, which every other package asks. It is a leaf: it depends on
// proxy/resp only.
//
// For each command and subcommand of Redis 7.0 to 7.4 ([TableVersion]; the table is
// generated from Redis's own command files by gen/), an [Info] holds its arity, flags,
// ACL categories and command tips as Redis declares them, and what a proxy must know on
// top: its routing [Class], its [Effect] on the connection it runs on, its [Scope] (the
// keys it may reach), the key patterns among its arguments and the keys in its reply.
// [Lookup] and [LookupArgs] find it, [Check] checks a command as Redis does before
// running it (unknown command or subcommand, arity) with Redis's error texts,
// [Info.Keys] finds its keys, [Slot] and [Split] place them on a Redis Cluster, and
// [MergeReplies] merges what several shards answer by the command's response policy.
// Commands a server has beyond the table (modules') are added by [Learn], from the
// server's COMMAND, and classified by the same rules.
//
// # Classes
//
// A proxy's shared server connections carry the commands of many clients, their
// replies matched to them first in, first out. A command that changed such a
// connection's state, or the number of replies it gets, would hand one client's replies
// to another; so the shared path is an allow-list, and every command takes one of these
// paths:
//
//	class         commands                                      why
//	shared        data commands (GET, SET, HSET, EVAL, FCALL,   one reply, no state left on
//	              PUBLISH, INFO, CONFIG GET, CLIENT PAUSE...)   the connection
//	every-shard   KEYS, SCAN, DBSIZE, FLUSHALL, RANDOMKEY,       as shared; a sharded backend
//	              SCRIPT LOAD/EXISTS/FLUSH, FUNCTION LOAD...,   sends them to every shard and
//	              CONFIG SET/RESETSTAT/REWRITE, INFO, SLOWLOG,   merges by the response policy
//	              LATENCY, MEMORY STATS (tips all_shards/nodes)  (Redis's command tips)
//	dedicated     MULTI EXEC DISCARD WATCH UNWATCH, SELECT,     state of the connection, or a
//	              (P|S)(UN)SUBSCRIBE, BLPOP and every blocking   wait for an event: a server
//	              command (XREAD/XREADGROUP with BLOCK, WAIT),   connection of the client's own,
//	              CLIENT TRACKING/CACHING/GETREDIR/              kept while the state lasts
//	              TRACKINGINFO/NO-TOUCH, SCRIPT DEBUG, AUTH,
//	              DEBUG
//	local         HELLO, RESET, QUIT, CLIENT ID/SETNAME/         about the client's connection
//	              GETNAME/INFO/SETINFO/REPLY/LIST/KILL/          to the proxy, not the proxy's
//	              UNBLOCK/NO-EVICT, ACL WHOAMI, REPLCONF,        to the server; a proxy presents
//	              READONLY, READWRITE, ASKING, CLUSTER *         a standalone server
//	stream        MONITOR, SYNC, PSYNC                          the connection becomes a stream
//	control       SCRIPT KILL, FUNCTION KILL, FUNCTION STATS,   must not wait behind a busy
//	              CLIENT UNPAUSE                                script or a paused connection:
//	                                                            sent on a connection of their
//	                                                            own to every server
//	refused       SHUTDOWN                                      one client of a proxy does not
//	                                                            stop the server all share
//	unclassified  what the model does not know                  never shared: a connection of
//	                                                            the client's own, for its life
//
// The class is decided by the command's flags and tips (blocking, all_shards...) and by
// the few exceptions listed, with their reasons, in class.go; testdata/classes.txt lists
// the class of every command and subcommand, and a test keeps it current. A container
// command (CLIENT, CONFIG...) is of class local on its own: a proxy answers Redis's
// arity or unknown-subcommand error; its subcommands have their own classes.
//
// # Keys
//
// [Info.Keys] finds the keys Redis's COMMAND GETKEYS finds (its key specs, then its
// getkeys procedures), except where Redis's lookup names a key the command does not
// touch: GEORADIUS and GEORADIUSBYMEMBER store into the last STORE or STOREDIST, SORT
// into the last STORE as the command reads its options, and XREAD and XREADGROUP read
// the streams after the STREAMS that follows their options. There Keys follows the
// command, so that a key namespace or a slot check covers the key actually written.
// A test compares Keys with a real server's COMMAND GETKEYS over thousands of
// invocations built from the server's own argument docs, and settles the exceptions by
// running the commands.
//
// # Threading
//
// Infos are read-only and shared by every goroutine. Lookup, LookupArgs and Check take
// no lock and allocate nothing. Learn may run concurrently with them: it publishes what
// it learned at once (copy on write), for the lookups that come after it.
package command
