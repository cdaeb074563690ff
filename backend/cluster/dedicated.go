package cluster

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// A dedicated connection of a cluster is one of the node backends' (backend/redis),
// bound to the primary of the first slot its commands name: a transaction, WATCHed
// keys and shard channels live on one node, and Redis Cluster requires them to be in
// one slot. Until a command names a slot, MULTI is answered here and sent along with
// the first command that does; a connection whose commands name no slot at all (PING,
// SUBSCRIBE, an empty transaction) goes to the first shard.

var (
	errSelect = resp.Error("ERR", "SELECT is not allowed in cluster mode")
	errMoved  = resp.Error("CROSSSLOT", "Keys in request don't hash to the same slot as the earlier commands of this connection")
)

var (
	_ backend.Dedicator      = (*Backend)(nil)
	_ backend.ShardDedicator = (*Backend)(nil)
)

// Dedicate lends the session of ctx a connection of its own to the primary serving
// key's slot, or, with a nil key, to the primary of the first slot its commands name.
// See backend.Dedicator. Safe from any goroutine.
func (b *Backend) Dedicate(ctx context.Context, key []byte, push func(resp.Value)) backend.Dedicated {
	// The connection is bound by its first command with a key, which is key's own
	// (the router passes the key of the command it sends first): so that a -MOVED for it
	// can be followed.
	return &dedicated{b: b, ctx: ctx, push: push, slot: -1}
}

// DedicateShard lends the session of ctx a connection of its own to the primary of shard
// i (see Locate for the numbering), bound at once. See backend.ShardDedicator. Safe from
// any goroutine.
func (b *Backend) DedicateShard(ctx context.Context, i int, push func(resp.Value)) backend.Dedicated {
	d := &dedicated{b: b, ctx: ctx, push: push, slot: -1}
	t := b.topo.Load()
	if t == nil || i < 0 || i >= len(t.shards) {
		d.inner = backend.Unavailable{}
		return d
	}
	d.bindNode(t.shards[i].primary)
	return d
}

// dedicated is a cluster's dedicated connection.
type dedicated struct {
	b    *Backend
	ctx  context.Context
	push func(resp.Value)

	mu    sync.Mutex
	inner backend.Dedicated // nil until bound
	slot  int32             // the slot it was bound by, or -1
	multi bool              // MULTI answered here, to send when bound
	gone  bool
}

// bind makes the node connection for slot (-1: the first shard). d.mu is held, or d is
// not shared yet.
func (d *dedicated) bind(slot int32) {
	d.slot = slot
	t := d.b.topo.Load()
	var n *node
	if t != nil && len(t.shards) > 0 {
		i := 0
		if slot >= 0 && t.slots[slot] != 0 {
			i = int(t.slots[slot]) - 1
		}
		n = t.shards[i].primary
	}
	d.bindNode(n)
}

// bindNode makes the connection to node n (nil: none reachable). d.mu is held, or d is
// not shared yet.
func (d *dedicated) bindNode(n *node) {
	ded, ok := backend.Dedicator(nil), false
	if n != nil && n.b != nil {
		ded, ok = n.b.(backend.Dedicator)
	}
	if !ok {
		d.inner = backend.Unavailable{}
		return
	}
	d.inner = ded.Dedicate(d.ctx, nil, d.push)
	if d.multi {
		d.multi = false
		d.inner.Send(resp.NewCommand("MULTI"), 0, func(resp.Value, error) {})
	}
}

// Send sends cmd on the connection, binding it first if needed. See backend.Dedicated.
func (d *dedicated) Send(cmd resp.Command, timeout time.Duration, done func(resp.Value, error)) {
	if len(cmd.Args) == 0 {
		done(errEmpty, nil)
		return
	}
	c, _ := command.LookupArgs(cmd.Args)
	effect := command.EffectNone
	if c != nil {
		effect = c.Effect
	}
	if effect == command.EffectSelect && !(len(cmd.Args) == 2 && string(cmd.Args[1]) == "0") {
		done(errSelect, nil)
		return
	}
	rt, ok := d.b.route(cmd.Args)
	if !ok {
		done(errCrossSlot, nil)
		return
	}
	slot := rt.slot
	d.mu.Lock()
	if d.gone {
		d.mu.Unlock()
		done(resp.Value{}, backend.ErrClosed)
		return
	}
	if d.inner == nil {
		if slot < 0 && effect == command.EffectMulti && !d.multi {
			d.multi = true
			d.mu.Unlock()
			done(resp.OK, nil)
			return
		}
		inTx := d.multi
		d.bind(slot)
		inner := d.inner
		d.mu.Unlock()
		if slot >= 0 && !inTx {
			// The slot map may be stale (a slot just moved): follow a -MOVED for the
			// command that binds the connection, which holds no state yet.
			cp := resp.Command{Args: make([][]byte, len(cmd.Args))}
			for i, a := range cmd.Args {
				cp.Args[i] = bytes.Clone(a)
			}
			inner.Send(cmd, timeout, d.follow(inner, cp, timeout, done, 0))
			return
		}
		inner.Send(cmd, timeout, done)
		return
	}
	inner, bound := d.inner, d.slot
	d.mu.Unlock()
	if slot >= 0 && bound >= 0 && slot != bound {
		// Another slot may live elsewhere: the node would answer -MOVED, which a
		// client of the proxy cannot follow. The node still sees the command, so that a
		// transaction is aborted as Redis aborts it.
		inner.Send(cmd, timeout, func(v resp.Value, err error) {
			if err == nil && v.Type == resp.TypeError && (bytes.HasPrefix(v.Raw, []byte("-MOVED ")) || bytes.HasPrefix(v.Raw, []byte("-ASK "))) {
				v = errMoved
			}
			done(v, err)
		})
		return
	}
	inner.Send(cmd, timeout, done)
}

// follow returns the callback of the command that bound the connection to inner: on a
// -MOVED it binds the connection to the node named, and sends cmd there again, a few
// times at most.
func (d *dedicated) follow(inner backend.Dedicated, cmd resp.Command, timeout time.Duration, done func(resp.Value, error), tries int) func(resp.Value, error) {
	return func(v resp.Value, err error) {
		if err != nil || tries >= 3 || v.Type != resp.TypeError || !bytes.HasPrefix(v.Raw, []byte("-MOVED ")) {
			done(v, err)
			return
		}
		slot, addr, ok := parseRedirect(errorText(v))
		var n *node
		if ok {
			n = d.b.lookup(addr, slot, true)
			d.b.askRefresh()
		}
		ded, isDed := backend.Dedicator(nil), false
		if n != nil && n.b != nil {
			ded, isDed = n.b.(backend.Dedicator)
		}
		d.mu.Lock()
		if !isDed || d.gone || d.inner != inner {
			d.mu.Unlock()
			done(v, err)
			return
		}
		next := ded.Dedicate(d.ctx, nil, d.push)
		d.inner = next
		d.mu.Unlock()
		inner.Close()
		next.Send(cmd, timeout, d.follow(next, cmd, timeout, done, tries+1))
	}
}

// Subscriptions reports the subscriptions of the node connection.
func (d *dedicated) Subscriptions() int {
	d.mu.Lock()
	inner := d.inner
	d.mu.Unlock()
	if inner == nil {
		return 0
	}
	return inner.Subscriptions()
}

// Release gives the node connection back.
func (d *dedicated) Release() { d.end(backend.Dedicated.Release) }

// Close closes the node connection.
func (d *dedicated) Close() { d.end(backend.Dedicated.Close) }

func (d *dedicated) end(how func(backend.Dedicated)) {
	d.mu.Lock()
	inner := d.inner
	d.gone = true
	d.mu.Unlock()
	if inner != nil {
		how(inner)
	}
}

// barrierer is a node backend that can tell when a session's commands are answered.
type barrierer interface {
	Barrier(ctx context.Context, done func())
}

// Barrier calls done once every command sent before it with ctx's session, on any
// node, has been answered or has failed: the proxy's router waits for it before it
// moves a client to a dedicated connection. It sends nothing.
func (b *Backend) Barrier(ctx context.Context, done func()) {
	t := b.topo.Load()
	if t == nil {
		done()
		return
	}
	var bs []barrierer
	for _, n := range t.byAddr {
		if bb, ok := n.b.(barrierer); ok {
			bs = append(bs, bb)
		}
	}
	if len(bs) == 0 {
		done()
		return
	}
	var mu sync.Mutex
	left := len(bs)
	for _, bb := range bs {
		bb.Barrier(ctx, func() {
			mu.Lock()
			left--
			last := left == 0
			mu.Unlock()
			if last {
				done()
			}
		})
	}
}
