package backend

import (
	"context"

	"github.com/redchain/redchain/proxy/resp"
)

// Sharded is implemented by backends that spread keys over several shards: a Redis
// Cluster's primaries, a ketama shard set. The router's fan-out (router.WithFanout)
// uses it to split multi-key commands by shard and to send whole-keyspace commands
// (KEYS, SCAN, DBSIZE) to every shard. A backend that does not implement it is one shard. It is optional:
// find it by type assertion.
type Sharded interface {
	Backend
	// Shards returns the number of shards now, at least 1. It may change when the
	// topology does (a cluster's slots move); shard numbers follow a stable order (a
	// cluster's shards are ordered by the first slot they serve).
	Shards() int
	// Locate returns where key lives now: its group, and the shard that serves the
	// group (0 <= shard < Shards()). Keys of one group may travel in one command: for a
	// cluster the group is the hash slot, for a shard set it is the server.
	Locate(key []byte) (group, shard int)
	// SendShard sends cmd to shard i (its primary), whatever the keys of cmd: it is for
	// commands about a whole shard (KEYS, SCAN, DBSIZE, FLUSHALL). It never blocks and
	// calls done exactly once, like Send; a shard number out of range fails with
	// ErrUnavailable.
	SendShard(ctx context.Context, i int, cmd resp.Command, done func(resp.Value, error))
}
