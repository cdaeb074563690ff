package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// Backend sends each command to the Redis Cluster node that serves its hash slot,
// following the cluster's redirections and keeping its slot map up to date. Create it
// with [New]. Its methods are safe for concurrent use. See the package doc.
type Backend struct {
	cfg config
	log hclog.Logger

	// topo is the current slot map; nil until the first refresh succeeds. Send reads
	// it without a lock; the refresher and -MOVED replace it.
	topo atomic.Pointer[topology]
	rr   atomic.Uint64 // commands without a session: which shard, which replica

	// The registry of nodes and what the refresher shares with the senders, under mu.
	mu      sync.Mutex
	nodes   map[string]*node    // by dial address: every node of the topology
	retired map[*node]time.Time // nodes that left the topology, closed after retireGrace
	parked  []*request          // commands waiting for the next refresh
	wanted  map[string]bool     // dial addresses a redirection needs a backend for
	warned  map[string]bool     // refused addresses logged already
	closed  bool                // set by Close under mu; closing mirrors it without a lock
	closing atomic.Bool

	kick      chan struct{} // capacity 1: a refresh is asked for
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	useSlots  atomic.Bool // a node refused CLUSTER SHARDS: ask CLUSTER SLOTS
	lastGood  string      // refresher-only: the node that answered the last refresh
	failing   bool        // refresher-only: the last refresh reached no node

	counters struct {
		moved, ask, tryAgain, refreshes, refreshFailures, parked atomic.Uint64
	}

	// Replies and errors made once.
	errClosed, errNoTopology error
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Sharded       = (*Backend)(nil)
	_ backend.StatsReporter = (*Backend)(nil)
)

// Constants of the behaviour that have no Config field.
const (
	// retireGrace is how long the backend of a node that left the topology stays open,
	// so that the commands it still has in flight get their replies.
	retireGrace = 10 * time.Second
	// maxParked bounds the commands waiting for a refresh (a redirection to a node
	// not known yet, a -TRYAGAIN). Beyond it they get their last reply at once.
	maxParked = 4096
	// maxTryAgain is how many times a command answered -TRYAGAIN is sent again, each
	// after the next refresh (at least MinRefreshInterval apart).
	maxTryAgain = 3
	// maxInlineKeys is how many key positions Send finds without allocating.
	maxInlineKeys = 32
)

// Error replies given without asking the cluster, in Redis's own words where it has
// them.
var (
	errEmpty     = resp.Error("ERR", "empty command")
	errCrossSlot = resp.Error("CROSSSLOT", "Keys in request don't hash to the same slot")
	errNoSlot    = resp.Error("CLUSTERDOWN", "Hash slot not served")
	// errMoving replaces a -MOVED or -ASK the backend does not follow: a client never
	// sees a redirection, which names a node. The command did not run.
	errMoving = resp.Error("TRYAGAIN", "backend slot moving")
)

// New validates cfg and returns a backend for the cluster that cfg.Seeds belong to.
//
// It asks the seeds for the topology in order (CLUSTER SHARDS, or CLUSTER SLOTS where
// SHARDS is not known), each attempt bounded by RefreshTimeout, until one answers, and
// connects to the nodes it learns of (in parallel, each bounded by Redis.DialTimeout)
// before it returns, so that a reachable cluster takes commands at once. A cluster that
// cannot be reached is no error: the backend keeps asking in the background, and Send
// fails with backend.ErrUnavailable meanwhile. New returns an error only for an invalid
// cfg.
func New(cfg Config) (*Backend, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := newBackend(c)
	b.bootstrap()
	b.wg.Add(1)
	go b.refresher()
	return b, nil
}

// newBackend returns a backend with no topology and no goroutine.
func newBackend(c config) *Backend {
	log := c.Redis.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	b := &Backend{
		cfg:     c,
		log:     log.Named("cluster"),
		nodes:   map[string]*node{},
		retired: map[*node]time.Time{},
		wanted:  map[string]bool{},
		warned:  map[string]bool{},
		kick:    make(chan struct{}, 1),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.errClosed = fmt.Errorf("cluster: %w", backend.ErrClosed)
	b.errNoTopology = fmt.Errorf("cluster: no slot map yet (seeds %s not reached): %w",
		strings.Join(c.Seeds, ","), backend.ErrUnavailable)
	return b
}

// Send sends cmd to the node serving the hash slot of its keys and returns without
// waiting; done gets the reply (borrowed until it returns) or an error. ctx is passed
// on to the node's backend: its session and event loop keep their meaning per node.
//
// A command whose keys are in different slots gets -CROSSSLOT, an empty command -ERR,
// without being sent. A command without keys (PING, INFO, an unknown command) goes to
// one primary: that of shard session % Shards(), shard 0 without a session (PUBLISH:
// shard 0, where the proxy's subscribers are). -MOVED and
// -ASK replies are followed, up to MaxRedirects. Safe from any goroutine; it never
// blocks.
func (b *Backend) Send(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) {
	if len(cmd.Args) == 0 {
		done(errEmpty, nil)
		return
	}
	rt, ok := b.route(cmd.Args)
	if !ok {
		done(errCrossSlot, nil)
		return
	}
	r := b.newRequest(ctx, cmd, done)
	r.slot, r.read, r.keys, r.script = rt.slot, rt.read, rt.keys, rt.script
	if rt.slot < 0 && rt.pubsub {
		// PUBLISH reaches every node's subscribers, but counts only the node's own: it
		// goes where the proxy's subscribers are, shard 0 (see dedicated).
		r.shard = 0
	}
	r.dispatch()
}

// routing is what Send needs to know of a command: the slot of its keys (-1 for none),
// how many keys it has, whether it is a read, whether it runs a script, whose error
// replies are the script's to choose (they may look like -MOVED), and whether it is
// about pub/sub.
type routing struct {
	slot   int32
	keys   int
	read   bool
	script bool
	pubsub bool
}

// route finds where args go; ok is false when their keys are in different slots.
func (b *Backend) route(args [][]byte) (rt routing, ok bool) {
	rt.slot = -1
	c, found := command.LookupArgs(args)
	if !found {
		return rt, true
	}
	var buf [maxInlineKeys]int
	keys := c.Keys(args, buf[:0])
	if len(keys) == 0 && c.Flags.Has(command.PubSub) {
		keys = c.ShardChannels(args, buf[:0]) // SSUBSCRIBE, SPUBLISH: by the channel's slot
	}
	for _, k := range keys {
		s := int32(command.Slot(args[k]))
		if rt.slot >= 0 && s != rt.slot {
			return rt, false
		}
		rt.slot = s
	}
	rt.keys = len(keys)
	rt.script = c.ACL&command.CatScripting != 0
	rt.pubsub = c.Flags.Has(command.PubSub)
	if rt.slot >= 0 && b.cfg.ReadFrom != Primary {
		rt.read = c.Flags.Has(command.ReadOnly)
	}
	return rt, true
}

// SendShard sends cmd to the primary of shard i (0 <= i < Shards(), see Locate),
// whatever its keys: it is for commands about a whole shard (KEYS, SCAN, DBSIZE). It
// follows -MOVED and -ASK like Send. A shard number out of range fails with
// backend.ErrUnavailable. Safe from any goroutine; it never blocks.
func (b *Backend) SendShard(ctx context.Context, i int, cmd resp.Command, done func(resp.Value, error)) {
	if len(cmd.Args) == 0 {
		done(errEmpty, nil)
		return
	}
	if i < 0 {
		done(resp.Value{}, errShardRange)
		return
	}
	r := b.newRequest(ctx, cmd, done)
	r.slot, r.shard = -1, int32(i)
	r.dispatch()
}

// Shards returns the number of primaries that serve slots now, at least 1. Safe from
// any goroutine; it does not allocate.
func (b *Backend) Shards() int {
	if t := b.topo.Load(); t != nil && len(t.shards) > 0 {
		return len(t.shards)
	}
	return 1
}

// Locate returns key's hash slot and the shard that serves it now: shards are the
// primaries that serve slots, numbered in the order of the first slot each serves. A
// slot that no shard serves (or no slot map yet) gives shard 0. Safe from any
// goroutine; it does not allocate.
func (b *Backend) Locate(key []byte) (group, shard int) {
	slot := int(command.Slot(key))
	if t := b.topo.Load(); t != nil {
		if s := t.slots[slot]; s != 0 {
			return slot, int(s) - 1
		}
	}
	return slot, 0
}

// NodeFor returns the dial address of the primary that serves slot now, or "" when none
// does. Safe from any goroutine.
func (b *Backend) NodeFor(slot int) string {
	t := b.topo.Load()
	if t == nil || slot < 0 || slot >= command.SlotCount || t.slots[slot] == 0 {
		return ""
	}
	return t.shards[t.slots[slot]-1].primary.addr
}

// Counters are a cluster backend's event counters since New, for metrics and tests.
type Counters struct {
	Moved           uint64 // -MOVED replies followed
	Ask             uint64 // -ASK replies followed
	TryAgain        uint64 // -TRYAGAIN replies retried
	Refreshes       uint64 // slot maps read from the cluster
	RefreshFailures uint64 // refreshes that reached no node
	Parked          uint64 // commands that waited for a refresh
}

// Counters returns the backend's counters. Safe from any goroutine.
func (b *Backend) Counters() Counters {
	c := &b.counters
	return Counters{
		Moved: c.moved.Load(), Ask: c.ask.Load(), TryAgain: c.tryAgain.Load(),
		Refreshes: c.refreshes.Load(), RefreshFailures: c.refreshFailures.Load(),
		Parked: c.parked.Load(),
	}
}

// Stats returns the sum of the node backends' stats: connections, connections up,
// commands waiting, reconnections. Safe from any goroutine.
func (b *Backend) Stats() backend.Stats {
	var st backend.Stats
	b.mu.Lock()
	defer b.mu.Unlock()
	add := func(n *node) {
		if sr, ok := n.b.(backend.StatsReporter); ok {
			s := sr.Stats()
			st.Conns += s.Conns
			st.ConnsUp += s.ConnsUp
			st.Waiting += s.Waiting
			st.Reconnects += s.Reconnects
		}
	}
	for _, n := range b.nodes {
		add(n)
	}
	for n := range b.retired {
		add(n)
	}
	return st
}

// Close stops the refresher, fails the commands waiting for a refresh with
// backend.ErrClosed, closes every node's backend (whose waiting commands get ErrClosed
// too), and returns once every goroutine of the backend has ended. Later Sends fail
// with ErrClosed. It returns nil (errors of the node backends, if ever, joined);
// calling it again does nothing. It must not be called from a callback of this
// backend.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.closing.Store(true)
		b.cancel()
		b.wg.Wait() // the refresher: no node is added after this
		b.mu.Lock()
		b.closed = true
		parked := b.parked
		b.parked = nil
		var all []*node
		for _, n := range b.nodes {
			all = append(all, n)
		}
		for n := range b.retired {
			all = append(all, n)
		}
		b.mu.Unlock()
		for _, r := range parked {
			r.finish(resp.Value{}, b.errClosed)
		}
		var errs []error
		for _, n := range all {
			if n.b != nil {
				errs = append(errs, n.b.Close())
			}
		}
		err = errors.Join(errs...)
		b.log.Debug("closed")
	})
	return err
}

// askRefresh asks the refresher for a refresh, without waiting; many asks before it
// starts make one. Safe from any goroutine; it does not allocate.
func (b *Backend) askRefresh() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}
