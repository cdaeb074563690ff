package shard

import (
	"context"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// A dedicated connection of a shard set is a backend.NewPerShard over its servers: one
// server backend's (backend/redis) connection per server the client's commands need,
// each command on that of its keys' server; a transaction and its WATCHed keys live on
// one server. Commands that name no key (SUBSCRIBE, PSUBSCRIBE, PING, a transaction
// without keys) go to the first server, where keyless commands (PUBLISH) go too.

var (
	_ backend.Dedicator = (*Backend)(nil)
	_ backend.Barrierer = (*Backend)(nil)
)

// errSelect is the reply to SELECT of a database other than 0.
var errSelect = resp.Error("ERR", "redchain shard: SELECT is not supported over a shard set")

// Dedicate lends the session of ctx a connection of its own to the shard set: to each
// server its commands need, made when first needed (see backend.NewPerShard). key is
// not used. See backend.Dedicator. Safe from any goroutine.
func (b *Backend) Dedicate(ctx context.Context, _ []byte, push func(resp.Value)) backend.Dedicated {
	return backend.NewPerShard(backend.PerShardConfig{
		Route: func(args [][]byte) (any, bool) {
			c, found := command.LookupArgs(args)
			if !found {
				return nil, true
			}
			var buf [maxInlineKeys]int
			server := -1
			for _, k := range c.Keys(args, buf[:0]) {
				s := b.Shard(args[k])
				if server >= 0 && s != server {
					return nil, false
				}
				server = s
			}
			if server < 0 {
				return nil, true
			}
			return server, b.patternsOn(c, args, server)
		},
		Default: func() any { return 0 },
		All: func() []any {
			all := make([]any, len(b.backends))
			for i := range all {
				all[i] = i
			}
			return all
		},
		Open: func(server any, push func(resp.Value)) backend.Dedicated {
			return b.backends[server.(int)].Dedicate(ctx, nil, push)
		},
		Redirects:  backend.RedirectsFrom(ctx),
		Push:       push,
		CrossShard: crossShard,
		Select:     errSelect,
	})
}

// Barrier calls done once every command sent before it with ctx's session, to any
// server, has been answered or has failed. See backend.Barrierer.
func (b *Backend) Barrier(ctx context.Context, done func()) {
	bs := make([]backend.Barrierer, len(b.backends))
	for i, rb := range b.backends {
		bs[i] = rb
	}
	backend.BarrierAll(ctx, bs, done)
}
