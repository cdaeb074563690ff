// Package fanout is the router's fan-out (router.WithFanout): what makes a sharded
// backend (backend.Sharded: a Redis Cluster, a ketama shard set) answer like one Redis.
// It splits the multi-key commands Redis lets a proxy split (request policy
// multi_shard: MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) by the group of their keys and
// merges the parts' replies; it sends the commands of class every-shard (KEYS, SCAN,
// DBSIZE, FLUSHALL, SCRIPT LOAD, FUNCTION LOAD, CONFIG SET, RANDOMKEY...) to every shard
// and merges them by their response policy; it answers -CROSSSLOT for other commands
// whose keys span groups. What each command is, the command model (package command)
// says; what each command's merge is, router/FANOUT.md.
//
// Only the router uses it: the router asks it first about each command of a client that
// holds no state on a dedicated server connection, and sends the command as usual when
// it declines. It knows nothing of the router's sessions: before it sends anything
// itself, it asks the client's Lane, which the router implements, whether the client's
// commands may go to the backend's shared connections now, and with which ctx.
//
// # Bounds
//
// A split command becomes at most one part per distinct group of its keys, and a
// whole-keyspace command one request per shard: never a loop without a bound. The most
// shards one command may touch at once is capped (router.FanoutConfig.MaxShards); wider
// commands are refused with a clear error.
//
// # Threading
//
// One Fanout serves every connection of every event loop: its configuration is read
// only, and the split buffers come from a pool. Serve runs on the connection's event
// loop and never blocks: parts are sent with the backend's Send or SendShard, which never
// block, with the ctx the Lane gives (the client's session, event loop and protocol), so
// that the commands of a connection reach each server in order, whether they were split
// or not. Part replies are gathered (proxy.Gather) on whatever goroutines the backend
// calls back on; the last one merges and writes the reply. It never holds the
// connection.
package fanout
