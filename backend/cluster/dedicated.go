package cluster

import (
	"bytes"
	"context"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// A dedicated connection of a cluster is a backend.NewPerShard over the primaries: one
// node backend's (backend/redis) connection per primary the client's commands need,
// each command on that of its slot's primary; a transaction and its WATCHed keys live
// on one node, and a -MOVED is followed outside a transaction. A redirection that is not
// followed (an -ASK, one in a transaction) never reaches the client as it is.

// errSelect is Redis Cluster's reply to SELECT.
var errSelect = resp.Error("ERR", "SELECT is not allowed in cluster mode")

var (
	_ backend.Dedicator      = (*Backend)(nil)
	_ backend.ShardDedicator = (*Backend)(nil)
	_ backend.ShardTunneler  = (*Backend)(nil)
	_ backend.Barrierer      = (*Backend)(nil)
	_ backend.Tunneler       = (*Backend)(nil)
)

// Dedicate lends the session of ctx a connection of its own to the cluster: to each
// primary its commands need, made when first needed (see backend.NewPerShard). key is
// not used. See backend.Dedicator. Safe from any goroutine.
func (b *Backend) Dedicate(ctx context.Context, _ []byte, push func(resp.Value)) backend.Dedicated {
	return backend.NewPerShard(backend.PerShardConfig{
		Route: func(args [][]byte) (any, bool) {
			rt, ok := b.route(args)
			if !ok || rt.slot < 0 {
				return nil, ok
			}
			if n := b.primaryOf(rt.slot); n != nil {
				return n, true
			}
			return nil, true // a slot no node serves: the default node answers -MOVED or -CLUSTERDOWN
		},
		Default: func() any {
			if n := b.primaryOf(-1); n != nil {
				return n
			}
			return (*node)(nil)
		},
		All: func() []any {
			var all []any
			if t := b.topo.Load(); t != nil {
				for _, s := range t.shards {
					all = append(all, s.primary)
				}
			}
			return all
		},
		Open: func(server any, push func(resp.Value)) backend.Dedicated {
			return dedicateNode(ctx, server.(*node), push)
		},
		Redirects: backend.RedirectsFrom(ctx),
		Push:      push,
		Redirect: func(v resp.Value) (any, bool) {
			msg := errorText(v)
			if !bytes.HasPrefix(msg, movedPrefix) && !bytes.HasPrefix(msg, askPrefix) {
				return nil, false
			}
			slot, addr, ok := parseRedirect(msg)
			if !ok || msg[0] == 'A' {
				return nil, true // an -ASK is not followed on a dedicated connection
			}
			b.askRefresh()
			if n := b.lookup(addr, slot, true); n != nil {
				return n, true
			}
			return nil, true
		},
		Unfollowed: errMoving,
		CrossShard: errCrossSlot,
		Select:     errSelect,
	})
}

// primaryOf returns the primary serving slot (-1: shard 0), nil when none does.
func (b *Backend) primaryOf(slot int32) *node {
	t := b.topo.Load()
	if t == nil || len(t.shards) == 0 {
		return nil
	}
	i := 0
	if slot >= 0 {
		if t.slots[slot] == 0 {
			return nil
		}
		i = int(t.slots[slot]) - 1
	}
	return t.shards[i].primary
}

// dedicateNode lends a connection of node n's backend; one whose commands fail with
// ErrUnavailable when n has none (not reachable, not allowed).
func dedicateNode(ctx context.Context, n *node, push func(resp.Value)) backend.Dedicated {
	if n != nil && n.b != nil {
		if ded, ok := n.b.(backend.Dedicator); ok {
			return ded.Dedicate(ctx, nil, push)
		}
	}
	return backend.Unavailable{}
}

// DedicateShard lends the session of ctx a connection of its own to the primary of shard
// i (see Locate for the numbering). See backend.ShardDedicator. Safe from any
// goroutine.
func (b *Backend) DedicateShard(ctx context.Context, i int, push func(resp.Value)) backend.Dedicated {
	t := b.topo.Load()
	if t == nil || i < 0 || i >= len(t.shards) {
		return backend.Unavailable{}
	}
	return dedicateNode(ctx, t.shards[i].primary, push)
}

// Barrier calls done once every command sent before it with ctx's session, on any
// node, has been answered or has failed: the proxy's router waits for it before it
// moves a client to a dedicated connection. It sends nothing.
func (b *Backend) Barrier(ctx context.Context, done func()) {
	var bs []backend.Barrierer
	if t := b.topo.Load(); t != nil {
		for _, n := range t.byAddr {
			if bb, ok := n.b.(backend.Barrierer); ok {
				bs = append(bs, bb)
			}
		}
	}
	backend.BarrierAll(ctx, bs, done)
}

// Tunnel gives the session of ctx a stream connection (MONITOR, SYNC, PSYNC) to the
// primary serving key's slot, or with a nil key to that of shard 0: on a cluster of
// one shard, the server that holds every key. The proxy's router does not ask for one
// over several shards, whose streams one connection cannot carry. See
// backend.Tunneler. Safe from any goroutine.
func (b *Backend) Tunnel(ctx context.Context, key []byte, recv func([]byte), closed func(error)) backend.Tunnel {
	slot := int32(-1)
	if key != nil {
		slot = int32(command.Slot(key))
	}
	if n := b.primaryOf(slot); n != nil && n.b != nil {
		if tn, ok := n.b.(backend.Tunneler); ok {
			return tn.Tunnel(ctx, key, recv, closed)
		}
	}
	closed(b.errNoTopology)
	return noTunnel{}
}

// TunnelShard gives the session of ctx a stream connection to the primary of shard i
// (see backend.ShardTunneler): the proxy's router merges a SYNC from every shard. Safe
// from any goroutine.
func (b *Backend) TunnelShard(ctx context.Context, i int, recv func([]byte), closed func(error)) backend.Tunnel {
	if t := b.topo.Load(); t != nil && i >= 0 && i < len(t.shards) {
		if n := t.shards[i].primary; n != nil && n.b != nil {
			if tn, ok := n.b.(backend.Tunneler); ok {
				return tn.Tunnel(ctx, nil, recv, closed)
			}
		}
	}
	closed(b.errNoTopology)
	return noTunnel{}
}

// noTunnel is the Tunnel given when no node can take one: it writes nothing.
type noTunnel struct{}

func (noTunnel) Write(resp.Command) {}
func (noTunnel) Close()             {}
