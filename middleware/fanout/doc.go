// Package fanout is the middleware that makes a sharded backend (backend.Sharded: a Redis
// Cluster, a ketama shard set) answer like one Redis. It splits the multi-key commands
// Redis lets a proxy split (request policy multi_shard: MGET, MSET, DEL, UNLINK, EXISTS,
// TOUCH) by the group of their keys and merges the parts' replies; it sends the
// commands of class every-shard (KEYS, SCAN, DBSIZE, FLUSHALL, SCRIPT LOAD, FUNCTION
// LOAD, CONFIG SET, RANDOMKEY...) to every shard and merges them by their response
// policy; it answers -CROSSSLOT for other commands whose keys span groups. What each
// command is, the command model (package command) says. See README.md for each
// command's merge.
//
// It belongs last before the router, after rewrite: keys must be final before they are
// hashed. In front of a backend that is not sharded it passes everything on untouched.
//
// # Bounds
//
// A split command becomes at most one part per distinct group of its keys, and a
// whole-keyspace command one request per shard: never a loop without a bound.
// Config.MaxShards caps how many shards one command may touch at once; wider commands
// are refused with a clear error.
//
// # Threading
//
// One Fanout serves every connection of every event loop: its configuration is read only,
// and the split buffers come from a pool. ServeRESP runs on the connection's event loop
// and never blocks: parts are sent with the backend's Send or SendShard, which never
// block, with the command's context as router.SharedLane gives it (its session, event
// loop and protocol), so that the commands of a connection reach each server in order,
// whether they went around the router or through it. A connection whose commands must
// go through the router now (router.Stateful, or a dedicated connection that still owes
// replies) has its commands passed on whole. Part replies are gathered (proxy.Gather) on whatever goroutines the
// backend calls back on; the last one merges and writes the reply. It never holds the
// connection.
package fanout
