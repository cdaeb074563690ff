// Package shard is a [backend.Backend] over several independent Redis servers that
// spreads keys over them by consistent hashing, the way twemproxy (nutcracker) does with
// "distribution: ketama", so that a twemproxy deployment can move to a redchain proxy
// without moving its data.
//
// [New] makes one backend/redis [redis.Backend] per server, from the Config.Redis
// template. [Backend.Send] finds the command's keys in the router's command table
// (router.Lookup, Command.Keys), hashes each key, or its hash tag, onto the ketama
// continuum, and sends the command to the backend of the server that owns them:
//
//   - One key, or several that all live on one server (hash tags make sure of it:
//     "{user1}.a" and "{user1}.b" hash "user1" alone): that server.
//   - No key (PING, ECHO, INFO, DBSIZE, KEYS, SCAN, FLUSHALL, EVAL with no keys, ...):
//     the first server of Config.Servers. Commands that should see every server (KEYS,
//     SCAN, DBSIZE, FLUSHALL) therefore see the first one only: running them on each
//     server and merging is the job of the router's fan-out (router.WithFanout).
//   - Keys on different servers: a -CROSSSLOT error reply; the command is not sent.
//     Splitting MSET, DEL, MGET and their kin by server is the fan-out's job too.
//   - A command not in the command table (a module's, a typo): an -ERR reply, not sent.
//     Its keys cannot be found, and sending it to some server could act on a key that
//     lives on another one, a silent wrong answer.
//
// The backend is a [backend.Sharded] of Shards() = len(Config.Servers) shards: Locate
// gives a key's server as both its group and its shard, and SendShard sends a command
// to one server by its index, whatever its keys. That is what the router's fan-out
// (router.WithFanout) splits multi-key commands and runs whole-keyspace commands with:
//
//	b, _ := shard.New(cfg)
//	h := router.New(b, router.WithFanout(router.FanoutConfig{MaxShards: 8}))
//
// Commands the server backends refuse on shared connections (MULTI, SUBSCRIBE, blocking
// commands, ...) get the same error replies as from backend/redis; the proxy's router
// sends them on connections lent by [Backend.Dedicate] ([backend.NewPerShard]): one per
// server the client's commands need, each command on its keys' server. A transaction
// and its WATCHed keys live on one server (a command of another server in it is refused
// and EXEC then fails with EXECABORT); commands without keys (SUBSCRIBE, PSUBSCRIBE) go
// to the first server, where PUBLISH goes too; subscriptions that may name keyspace
// notifications go to every server. SELECT of a database other than 0 is refused.
//
// SORT's BY and GET patterns run only when they carry a hash tag (without '*') of the
// sorted key's server, as Redis Cluster requires of a slot: "{u1}:weight_*" with
// "{u1}:list". Other patterns would read another server's keys, or none: they are
// refused.
//
// # Compatibility with twemproxy
//
// The continuum is built as twemproxy 0.5's ketama_update (nc_ketama.c): a server gets
// floor(40 × n × weight / total weight) × 4 points (160 for an average weight), made of
// the MD5 digests of "name-0", "name-1", ..., four little-endian points per digest,
// where name is Server.Name or, without one, Server.Addr (the host alone for port
// 11211). A key hashes with Config.Hash (default [FNV1a64], twemproxy's "fnv1a_64",
// which is a 32-bit FNV-1a despite its name) to the first point at or above its hash,
// wrapping around. Hash tags follow twemproxy's rule: when the key has the opening
// character and, after it, the closing one, with at least one byte between them, only
// those bytes are hashed.
//
// So the same servers (names, or addresses when unnamed; weights; order only for ties),
// the same hash and the same hash tag put every key on the same server as twemproxy. The
// tests check it against placements recorded from nutcracker 0.5.0 (see
// testdata/twemproxy_golden.sh), for named and weighted servers, unnamed ones, hash
// tags and bytes above 0x7f. Not reproduced: twemproxy's auto_eject_hosts (a failed
// server's keys are not moved elsewhere here: its commands fail until it is back), and
// its other hashes (md5, crc32, murmur, ...), which a Config.Hash can supply.
//
// # Ordering
//
// Send passes ctx on to the server's backend, so a session ([backend.WithSession]) and an
// event loop ([backend.WithLoop]) keep their meaning per server: the commands of one
// session that go to one server reach it in Send order. Commands of a session that go to
// different servers are not ordered between servers.
//
// # Threading
//
// New, Send, SendShard, Shard, Locate, Shards, ServerFor, Stats and Close are safe for
// concurrent use from any goroutine; Send and SendShard never block. The continuum is
// built once by New and only read after. Callbacks run where backend/redis runs them (a
// server connection's reader goroutine or event loop); error replies for CROSSSLOT and
// unknown commands, and SendShard's error for a server number out of range, are given at
// once, on the goroutine that called, before it returns. Close must not be called from a
// callback.
package shard
