package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy/resp"
)

// The refresher is the backend's one goroutine: it reads the slot map from the cluster
// (every RefreshInterval, and when asked, at most once per MinRefreshInterval), connects
// to new nodes, publishes a new topology, closes the nodes that left, and sends the
// parked commands again. Only it changes the registry of nodes (under mu, which Stats
// and the senders' park and lookup take briefly).

// bootstrap reads the first slot map, from the seeds, before New returns.
func (b *Backend) bootstrap() {
	if !b.refresh() {
		b.log.Warn("no seed answered: commands fail until the slot map is read", "seeds", b.cfg.Seeds)
	}
}

// refresher refreshes the slot map until Close.
func (b *Backend) refresher() {
	defer b.wg.Done()
	failures := 0
	if b.topo.Load() == nil {
		failures = 1
	}
	last := time.Now()
	timer := time.NewTimer(b.gap(failures))
	defer timer.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		case <-timer.C:
		}
		// Debounce: one refresh per gap, whatever the number of asks.
		if wait := time.Until(last.Add(b.gap(failures))); wait > 0 {
			timer.Reset(wait)
			select {
			case <-b.ctx.Done():
				return
			case <-timer.C:
			}
		}
		select {
		case <-b.kick: // asked meanwhile: this refresh answers it
		default:
		}
		last = time.Now()
		if b.refresh() {
			failures = 0
		} else {
			failures++
		}
		b.retire(last)
		b.redispatch()
		next := b.cfg.RefreshInterval
		if b.topo.Load() == nil {
			next = b.gap(failures)
		}
		timer.Reset(next)
	}
}

// gap is the least time between refreshes after failures failed ones in a row:
// MinRefreshInterval doubled per failure, up to RefreshInterval.
func (b *Backend) gap(failures int) time.Duration {
	d := b.cfg.MinRefreshInterval
	for range failures {
		if d >= b.cfg.RefreshInterval {
			break
		}
		d *= 2
	}
	return min(d, b.cfg.RefreshInterval)
}

// refresh reads the slot map from the first node that answers (the known nodes,
// primaries first, then the seeds) and applies it. It reports whether a node answered.
func (b *Backend) refresh() bool {
	var errs []error
	for _, addr := range b.candidates() {
		if b.ctx.Err() != nil {
			return false
		}
		descs, err := b.query(addr)
		if err == nil && len(descs) == 0 {
			err = errors.New("the node knows of no slot")
		}
		if err != nil {
			b.log.Debug("refresh: node did not answer", "addr", addr, "error", err)
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		b.apply(descs, addr)
		b.lastGood = addr
		if b.failing {
			b.failing = false
			b.log.Info("refresh: a node answers again", "addr", addr)
		}
		b.counters.refreshes.Add(1)
		return true
	}
	b.counters.refreshFailures.Add(1)
	// Say it once per outage; the attempts that follow are details.
	if !b.failing {
		b.failing = true
		b.log.Warn("refresh: no node answered; retrying in the background", "error", errors.Join(errs...))
	} else {
		b.log.Debug("refresh: no node answered", "error", errors.Join(errs...))
	}
	return false
}

// candidates returns the addresses to ask for the slot map, in order: the node that
// answered last time, the primaries of the current topology, its other nodes, then the
// seeds; refused nodes left out. Asking the same node while it answers spares the
// others (and nodes that are down) a connection per refresh.
func (b *Backend) candidates() []string {
	var out []string
	seen := map[string]bool{}
	add := func(addr string) {
		if !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	t := b.topo.Load()
	if n := t.nodeAt(b.lastGood); n != nil && n.refused == nil {
		add(b.lastGood) // the node that answered last time, if it is still one
	}
	if t != nil {
		for _, sh := range t.shards {
			if sh.primary.b != nil {
				add(sh.primary.addr)
			}
		}
		var rest []string
		for addr, n := range t.byAddr {
			if n.refused == nil {
				rest = append(rest, addr)
			}
		}
		slices.Sort(rest)
		for _, a := range rest {
			add(a)
		}
	}
	for _, s := range b.cfg.Seeds {
		add(s)
	}
	return out
}

// query asks the node at addr for the slot map, on a connection of its own, within
// RefreshTimeout.
func (b *Backend) query(addr string) ([]shardDesc, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RefreshTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host, _, _ := net.SplitHostPort(addr)

	var out []byte
	rc := b.cfg.Redis
	auth := rc.Username != "" || rc.Password != ""
	switch {
	case rc.Username != "":
		out = resp.NewCommand("AUTH", rc.Username, rc.Password).AppendTo(out)
	case rc.Password != "":
		out = resp.NewCommand("AUTH", rc.Password).AppendTo(out)
	}
	useSlots := b.useSlots.Load()
	if useSlots {
		out = slotsCmd.AppendTo(out)
	} else {
		out = shardsCmd.AppendTo(out)
	}
	if _, err := nc.Write(out); err != nil {
		return nil, err
	}
	rd := replyReader{nc: nc}
	if auth {
		v, err := rd.next()
		if err != nil {
			return nil, err
		}
		if v.IsError() {
			return nil, fmt.Errorf("AUTH refused: %s", v.Str)
		}
	}
	v, err := rd.next()
	if err != nil {
		return nil, err
	}
	if !useSlots && v.IsError() {
		// Before Redis 7: CLUSTER SLOTS. Remember it when SHARDS is unknown.
		if bytes.Contains(bytes.ToLower(v.Str), []byte("unknown")) {
			b.useSlots.Store(true)
		}
		if _, err := nc.Write(slotsCmd.AppendTo(nil)); err != nil {
			return nil, err
		}
		if v, err = rd.next(); err != nil {
			return nil, err
		}
		useSlots = true
	}
	if v.IsError() {
		return nil, fmt.Errorf("%s", v.Str)
	}
	if useSlots {
		return parseSlots(v, host)
	}
	return parseShards(v, host)
}

var (
	shardsCmd = resp.NewCommand("CLUSTER", "SHARDS")
	slotsCmd  = resp.NewCommand("CLUSTER", "SLOTS")
)

// replyReader reads whole replies from a connection.
type replyReader struct {
	nc  net.Conn
	buf []byte
	p   resp.ReplyParser
}

// next reads and decodes the next reply.
func (r *replyReader) next() (resp.Value, error) {
	for {
		n, err := r.p.Next(r.buf)
		if err != nil {
			return resp.Value{}, err
		}
		if n > 0 {
			v, _, err := resp.ParseValue(r.buf[:n], resp.Limits{})
			r.buf = r.buf[n:]
			return v, err
		}
		r.buf = slices.Grow(r.buf, 16<<10)
		m, err := r.nc.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+m]
		if err != nil && m == 0 {
			return resp.Value{}, err
		}
	}
}

// apply makes the topology the cluster described (asked at from), connecting to the
// nodes that need a backend, and publishes it.
func (b *Backend) apply(descs []shardDesc, from string) {
	// Which nodes need a backend: primaries, replicas when they serve reads, and those
	// a redirection was sent to.
	need := map[string]bool{} // announced address -> needs a backend
	b.mu.Lock()
	wanted := b.wanted
	b.wanted = map[string]bool{}
	b.mu.Unlock()
	for _, d := range descs {
		need[d.primary.addr] = true
		for _, r := range d.replicas {
			need[r.addr] = need[r.addr] || b.cfg.ReadFrom == Replica || wanted[b.cfg.dialAddr(r.addr)]
		}
	}

	// Find or make the nodes; connect those that need it, in parallel.
	type pending struct {
		n  *node
		rb *redis.Backend
	}
	var create []*pending
	b.mu.Lock()
	for announced, needs := range need {
		addr := b.cfg.dialAddr(announced)
		n := b.nodes[addr]
		if n == nil {
			for r := range b.retired {
				if r.addr == addr {
					n = r
					delete(b.retired, r)
					break
				}
			}
		}
		if n == nil {
			n = &node{addr: addr, announced: announced}
			if !b.cfg.allowed(addr) {
				n.refused = notAllowed(addr, announced)
				b.warnRefusedLocked(addr, announced)
			}
		}
		b.nodes[addr] = n
		if needs && n.b == nil && n.refused == nil {
			create = append(create, &pending{n: n})
		}
	}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range create {
		wg.Go(func() {
			rc := b.cfg.Redis
			rc.Addr = p.n.addr
			rb, err := redis.New(rc)
			if err != nil {
				b.log.Warn("cluster node: invalid backend", "addr", p.n.addr, "error", err)
				return
			}
			p.rb = rb
		})
	}
	wg.Wait()
	// A node is immutable once published: one that gets a backend is a new node.
	b.mu.Lock()
	for _, p := range create {
		nn := &node{addr: p.n.addr, announced: p.n.announced}
		if p.rb != nil {
			nn.b = p.rb
		} else {
			nn.refused = fmt.Errorf("cluster node %s (announced as %s): no backend: %w", nn.addr, nn.announced, backend.ErrUnavailable)
		}
		b.nodes[nn.addr] = nn
		if b.closed { // not reached: Close waits for the refresher first
			_ = p.rb.Close()
		}
	}
	b.mu.Unlock()

	t, err := build(descs, func(announced string) *node { return b.nodes[b.cfg.dialAddr(announced)] })
	if err != nil {
		b.log.Warn("refresh: invalid slot map", "from", from, "error", err)
		return
	}
	old := b.topo.Swap(t)
	if old == nil || !sameTopology(old, t) {
		b.log.Info("slot map", "from", from, "shards", len(t.shards), "nodes", len(t.byAddr),
			"slots_served", t.covered())
	}

	// Nodes that left the topology are closed after a grace period (retire).
	now := time.Now()
	b.mu.Lock()
	for addr, n := range b.nodes {
		if t.byAddr[addr] != n {
			delete(b.nodes, addr)
			if n.b != nil {
				b.retired[n] = now
			}
		}
	}
	b.mu.Unlock()
}

// retire closes the backends of the nodes that left the topology retireGrace ago.
func (b *Backend) retire(now time.Time) {
	var old []*node
	b.mu.Lock()
	for n, since := range b.retired {
		if now.Sub(since) >= retireGrace {
			old = append(old, n)
			delete(b.retired, n)
		}
	}
	b.mu.Unlock()
	for _, n := range old {
		b.log.Info("cluster node left; closing its connections", "addr", n.addr)
		_ = n.b.Close()
	}
}

// sameTopology reports whether a and b route every slot to the same nodes.
func sameTopology(a, b *topology) bool {
	if a.slots != b.slots || len(a.shards) != len(b.shards) || len(a.byAddr) != len(b.byAddr) {
		return false
	}
	for i := range a.shards {
		if a.shards[i].primary != b.shards[i].primary || !slices.Equal(a.shards[i].replicas, b.shards[i].replicas) {
			return false
		}
	}
	return true
}

// notAllowed is the error of the commands for a node outside the allow-list: the client
// is told backend.ErrUnavailable's text, the node is for the log.
func notAllowed(addr, announced string) error {
	return fmt.Errorf("cluster node %s (announced as %s) is not in the allow-list: %w", addr, announced, backend.ErrUnavailable)
}

// warnRefusedLocked logs, once per address, that a node is not allowed. b.mu is held.
func (b *Backend) warnRefusedLocked(addr, announced string) {
	if b.warned[addr] {
		return
	}
	b.warned[addr] = true
	b.log.Warn("cluster node is not in the allow-list: it is never dialled, the commands for its slots fail",
		"addr", addr, "announced", announced)
}

// lookup returns the node a redirection names (announced is its announced address),
// or nil when it is not known or not connected yet; it then asks the refresher to
// connect it. With update (a -MOVED), the current topology is changed so that slot is
// served by that node when it is a primary.
func (b *Backend) lookup(announced []byte, slot int, update bool) *node {
	t := b.topo.Load()
	var n *node
	addr, mapped := b.cfg.AddrMap[string(announced)]
	if t != nil {
		if mapped {
			n = t.byAddr[addr]
		} else {
			n = t.byAddr[string(announced)]
		}
	}
	if !mapped {
		addr = string(announced)
	}
	if n == nil && !b.cfg.allowed(addr) {
		b.mu.Lock()
		b.warnRefusedLocked(addr, string(announced))
		b.mu.Unlock()
		return &node{addr: addr, announced: string(announced), refused: notAllowed(addr, string(announced))}
	}
	if n == nil || (n.b == nil && n.refused == nil) {
		b.mu.Lock()
		b.wanted[addr] = true
		b.mu.Unlock()
		return nil
	}
	if update && n.b != nil {
		for t != nil {
			idx, ok := t.primaryOf[n]
			if !ok || t.slots[slot] == uint16(idx+1) {
				break
			}
			if b.topo.CompareAndSwap(t, t.withSlot(slot, idx)) {
				break
			}
			t = b.topo.Load()
		}
	}
	return n
}

// park keeps r until the next refresh, which sends it again; v is the reply r gets
// instead when it cannot wait (the queue is full, or the backend closed). Called from
// r's callback.
func (b *Backend) park(r *request, v resp.Value) {
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		r.finish(resp.Value{}, b.errClosed)
		return
	case len(b.parked) >= maxParked:
		b.mu.Unlock()
		r.finish(v, nil)
		return
	}
	b.parked = append(b.parked, r)
	b.mu.Unlock()
	b.counters.parked.Add(1)
	b.askRefresh()
}

// redispatch sends the parked commands again, routed by the current topology.
func (b *Backend) redispatch() {
	b.mu.Lock()
	parked := b.parked
	b.parked = nil
	b.mu.Unlock()
	for _, r := range parked {
		r.dispatch()
	}
}
