package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterTimeout bounds how long StartCluster, WaitHealthy, Failover, MoveSlot and
// EndMigration wait for the cluster to settle before they fail the test.
const ClusterTimeout = 20 * time.Second

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

const (
	// busPortOffset is how far above its client port a node listens for the cluster bus
	// (Redis's default when cluster-port is 0).
	busPortOffset = 10000
	// clusterPoll is the interval between two looks at the cluster's state while
	// waiting: a polling interval, not synchronisation.
	clusterPoll = 25 * time.Millisecond
	// clusterCmdTimeout bounds one administrative command, so that a node that hangs
	// costs one poll, not the whole wait.
	clusterCmdTimeout = 2 * time.Second
	// migrateBatch is how many keys one MIGRATE moves (redis-cli moves 10 per call by
	// default; test keys are small).
	migrateBatch = 100
	// migrateTimeout is MIGRATE's own I/O timeout.
	migrateTimeout = 10 * time.Second
	// failoverRetry is how long Failover waits for a promotion before it sends CLUSTER
	// FAILOVER again: Redis gives up a manual failover after 5 s (CLUSTER_MF_TIMEOUT).
	failoverRetry = 6 * time.Second
)

// ClusterOption configures [StartCluster].
type ClusterOption func(*clusterOptions)

type clusterOptions struct {
	primaries   int
	replicas    int
	nodeTimeout time.Duration
	args        []string
	announce    map[int]int // node index -> announced port
}

// Primaries sets how many primaries StartCluster starts; the default is 3. Automatic
// failover needs a majority of the primaries alive, so killing one of 3 works, one of 2
// does not.
func Primaries(n int) ClusterOption {
	return func(o *clusterOptions) { o.primaries = n }
}

// Replicas sets how many replicas StartCluster attaches to each primary; the default
// is 1.
func Replicas(n int) ClusterOption {
	return func(o *clusterOptions) { o.replicas = n }
}

// NodeTimeout sets cluster-node-timeout; the default is 1 s, low so that a killed primary
// is replaced within 2-3 s. Redis marks a node failing after this long without an answer,
// and a replica of a failed primary then waits 0.5-1 s (plus 1 s per replica ranked
// before it) before it asks for votes.
func NodeTimeout(d time.Duration) ClusterOption {
	return func(o *clusterOptions) { o.nodeTimeout = d }
}

// NodeArgs appends command-line arguments for every node's redis-server, after the
// cluster defaults, so they can override them. With a password, pass --masterauth too so
// that replicas can sync: NodeArgs("--requirepass", "pw", "--masterauth", "pw"); the
// harness's own clients then use the password. Leave the address settings alone
// (cluster-announce-ip, cluster-announce-port, cluster-port): the harness checks that
// the nodes see each other where it put them; use [AnnouncePort] instead.
func NodeArgs(args ...string) ClusterOption {
	return func(o *clusterOptions) { o.args = append(o.args, args...) }
}

// AnnouncePort makes node i (0-based, in start order: primaries first, then replicas)
// announce port instead of its real one (cluster-announce-port), e.g. to simulate a NATed
// node that announces an unreachable address: CLUSTER SLOTS, SHARDS and NODES, and MOVED
// redirects, give the announced port. Its bus port is announced as the real one, so
// gossip works and the cluster stays healthy.
//
// Replicas connect to their primary at the address it announces, so a primary that
// announces an unreachable port cannot be replicated: the cluster is healthy all the
// same (WaitHealthy does not check the replication link of such a primary's replicas),
// but those replicas hold no data. [Cluster.Client] cannot reach the node either.
func AnnouncePort(i, port int) ClusterOption {
	return func(o *clusterOptions) {
		if o.announce == nil {
			o.announce = map[int]int{}
		}
		o.announce[i] = port
	}
}

// Cluster is a Redis Cluster of redis-server processes started by [StartCluster].
//
// Its methods are safe for concurrent use. Those that take a testing.TB report failure
// with t.Fatalf, which must run on the test's goroutine: call them from there.
type Cluster struct {
	nodes []*ClusterNode // immutable after StartCluster

	mu         sync.Mutex
	client     *redis.ClusterClient
	migrations map[int]migration // by slot
}

// migration is a slot half-moved by BeginMigration.
type migration struct {
	from, to *ClusterNode
}

// ClusterNode is one redis-server of a [Cluster]. Its methods are safe for concurrent
// use.
type ClusterNode struct {
	srv      *Server
	index    int    // in start order
	id       string // cluster node id, set before StartCluster returns
	announce int    // announced port, or 0 for the real one
}

// StartCluster starts a Redis Cluster of Primaries*(1+Replicas) redis-server processes
// (see [Primaries], [Replicas]) with --cluster-enabled yes on free 127.0.0.1 ports whose
// bus ports (port+10000) are free too. It joins them (CLUSTER MEET), gives the primaries
// equal contiguous slot ranges (CLUSTER ADDSLOTSRANGE; 5461, 5461 and 5462 slots for 3),
// attaches the replicas (CLUSTER REPLICATE; nodes P..2P-1 replicate primaries 0..P-1, then
// nodes 2P..3P-1, and so on), and waits, as [Cluster.WaitHealthy] does, until every node
// is ok, agrees on the slot map and every replica's link to its primary is up. That
// takes a little over 2 s: a Redis primary does not report cluster_state:ok within 2 s of
// its start (CLUSTER_WRITABLE_DELAY).
//
// Every node runs as [Start] runs a server (persistence off, temporary directory, killed
// by a cleanup on t), with these cluster settings, which NodeArgs can override:
//
//   - cluster-config-file in the node's directory, so that [ClusterNode.Restart] brings
//     the node back under the same ID;
//   - cluster-node-timeout from [NodeTimeout];
//   - cluster-announce-ip 127.0.0.1, so a node knows its address before it is met;
//   - cluster-replica-validity-factor 0: a replica always takes over from a failed
//     primary, however long its link was down;
//   - cluster-allow-replica-migration no: replicas stay where they were put, and a
//     primary that loses its last slot (MoveSlot) stays an empty primary;
//   - repl-diskless-sync-delay 0: a replica syncs at once instead of after 5 s;
//   - cluster-require-full-coverage is left at yes: while a primary is down and not yet
//     replaced, every node answers CLUSTERDOWN.
//
// StartCluster fails the test, never skips it, when redis-server is missing.
func StartCluster(t testing.TB, opts ...ClusterOption) *Cluster {
	t.Helper()
	o := clusterOptions{primaries: 3, replicas: 1, nodeTimeout: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	total := o.primaries * (1 + o.replicas)
	switch {
	case o.primaries < 1 || o.primaries > SlotCount:
		t.Fatalf("redistest: StartCluster: Primaries(%d): want 1 to %d", o.primaries, SlotCount)
	case o.replicas < 0:
		t.Fatalf("redistest: StartCluster: Replicas(%d): want 0 or more", o.replicas)
	case o.nodeTimeout < time.Millisecond:
		t.Fatalf("redistest: StartCluster: NodeTimeout(%v): want 1ms or more", o.nodeTimeout)
	}
	for i, port := range o.announce {
		if i < 0 || i >= total || port < 1 || port > 65535 {
			t.Fatalf("redistest: StartCluster: AnnouncePort(%d, %d): want a node 0 to %d and a port 1 to 65535",
				i, port, total-1)
		}
	}
	bin := serverBinary(t)

	c := &Cluster{migrations: map[int]migration{}}
	for i := range total {
		srv := &Server{t: t, bin: bin, dir: t.TempDir()}
		t.Cleanup(srv.cleanup)
		c.nodes = append(c.nodes, &ClusterNode{srv: srv, index: i, announce: o.announce[i]})
	}
	t.Cleanup(c.cleanup) // runs first: closes the client while the nodes still run
	if err := c.launch(o); err != nil {
		t.Fatalf("redistest: StartCluster: %v", err)
	}

	for _, n := range c.nodes {
		id, err := c.do(n, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatalf("redistest: StartCluster: CLUSTER MYID on %s: %v", n.Addr(), err)
		}
		n.id = id
		// Distinct epochs, as redis-cli --cluster create gives them, spare the nodes
		// resolving a collision of their equal epochs 0 after they meet.
		c.mustDo(t, n, "CLUSTER", "SET-CONFIG-EPOCH", n.index+1)
	}
	for i, n := range c.nodes[:o.primaries] {
		lo, hi := i*SlotCount/o.primaries, (i+1)*SlotCount/o.primaries-1
		c.mustDo(t, n, "CLUSTER", "ADDSLOTSRANGE", lo, hi)
	}
	// Every pair meets directly rather than through gossip, which takes seconds.
	for i, a := range c.nodes {
		for _, b := range c.nodes[i+1:] {
			c.mustDo(t, a, "CLUSTER", "MEET", "127.0.0.1", b.Port(), b.Port()+busPortOffset)
		}
	}
	c.waitFor(t, "nodes to meet", func(obs *observation) string {
		for _, v := range obs.views {
			if v.err != nil {
				return fmt.Sprintf("%v: %v", v.node, v.err)
			}
			for _, n := range c.nodes {
				if e := v.entry(n.id); e == nil || e.has("handshake") {
					return fmt.Sprintf("%v does not know %v yet", v.node, n)
				}
			}
		}
		return ""
	})
	for r, n := range c.nodes[o.primaries:] {
		c.mustDo(t, n, "CLUSTER", "REPLICATE", c.nodes[r%o.primaries].id)
	}
	c.waitFor(t, "cluster to start", (*observation).health)
	return c
}

// launch starts every node's redis-server, in parallel, each on free ports.
func (c *Cluster) launch(o clusterOptions) error {
	var (
		wg    sync.WaitGroup
		ports = portSet{used: map[int]bool{}}
		errs  = make([]error, len(c.nodes))
	)
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = n.launch(&ports, o) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// launch starts the node's redis-server on free ports, trying others when they were
// taken in the meantime.
func (n *ClusterNode) launch(ports *portSet, o clusterOptions) error {
	s := n.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		port, err := ports.take()
		if err != nil {
			return fmt.Errorf("node %d: find free ports: %w", n.index, err)
		}
		s.port = port
		s.args = []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-node-timeout", strconv.FormatInt(o.nodeTimeout.Milliseconds(), 10),
			"--cluster-announce-ip", "127.0.0.1",
			"--cluster-replica-validity-factor", "0",
			"--cluster-allow-replica-migration", "no",
			"--repl-diskless-sync-delay", "0",
		}
		if n.announce != 0 {
			s.args = append(s.args,
				"--cluster-announce-port", strconv.Itoa(n.announce),
				"--cluster-announce-bus-port", strconv.Itoa(port+busPortOffset))
		}
		s.args = append(s.args, o.args...)
		err = s.launch()
		if err == nil {
			return nil
		}
		if !errors.Is(err, errAddrInUse) || attempt == startAttempts {
			return fmt.Errorf("node %d: start redis-server: %w", n.index, err)
		}
	}
}

// portSet hands out distinct free ports whose bus ports are free too, so that the
// nodes of one cluster, started in parallel, do not pick each other's ports.
type portSet struct {
	mu   sync.Mutex
	used map[int]bool // client and bus ports handed out
}

func (p *portSet) take() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 100 {
		port, err := freeClusterPort()
		if err != nil {
			return 0, err
		}
		if p.used[port] || p.used[port+busPortOffset] {
			continue
		}
		p.used[port], p.used[port+busPortOffset] = true, true
		return port, nil
	}
	return 0, errors.New("no new free port after 100 tries")
}

// freeClusterPort returns a loopback port that was free a moment ago, as was the port
// 10000 above it, where a cluster node listens for the cluster bus.
func freeClusterPort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+busPortOffset > 65535 {
			_ = l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+busPortOffset)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("no free pair of ports (port, port+10000) after 100 tries")
}

func (c *Cluster) cleanup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		_ = c.client.Close()
		c.client = nil
	}
}

// Nodes returns every node, killed ones included, in start order: the primaries given
// to StartCluster first, then the replicas. The order does not change after a failover.
func (c *Cluster) Nodes() []*ClusterNode {
	return slices.Clone(c.nodes)
}

// Seeds returns every node's real address, "127.0.0.1:port", in start order.
func (c *Cluster) Seeds() []string {
	seeds := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		seeds[i] = n.Addr()
	}
	return seeds
}

// Primaries returns the live nodes that are primaries now, in start order, whether they
// serve slots or not. It asks each live node for its own role, so it follows failovers.
func (c *Cluster) Primaries() []*ClusterNode {
	var ps []*ClusterNode
	for _, n := range c.nodes {
		if self, err := n.self(); err == nil && self.has("master") {
			ps = append(ps, n)
		}
	}
	return ps
}

// PrimaryOf returns the live node that serves slot now: the primary whose own slot map
// gives it slot (the one with the highest config epoch in the moment two claim it). It
// returns nil when no live node serves slot, e.g. after the primary serving it was
// killed and before a replica has taken over.
func (c *Cluster) PrimaryOf(slot int) *ClusterNode {
	var (
		owner *ClusterNode
		epoch int64
	)
	for _, n := range c.nodes {
		self, err := n.self()
		if err != nil || !self.has("master") || !self.owns(slot) {
			continue
		}
		if owner == nil || self.epoch > epoch {
			owner, epoch = n, self.epoch
		}
	}
	return owner
}

// ReplicasOf returns the live nodes that replicate p now, by their own account, in start
// order.
func (c *Cluster) ReplicasOf(p *ClusterNode) []*ClusterNode {
	var rs []*ClusterNode
	for _, n := range c.nodes {
		if self, err := n.self(); err == nil && self.has("slave") && self.master == p.id {
			rs = append(rs, n)
		}
	}
	return rs
}

// Client returns a go-redis cluster client seeded with every node, speaking RESP2, with
// generous timeouts and redirects and the password given by a --requirepass in NodeArgs.
// The same client is returned on every call; it is closed by the cleanup of
// StartCluster.
func (c *Cluster) Client() *redis.ClusterClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		c.client = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:    c.Seeds(),
			Password: c.nodes[0].srv.Password(),
			Protocol: 2,
			// Failovers and migrations in tests redirect more than go-redis's default
			// of 3 allows.
			MaxRedirects: 8,
			// As Server.Client: a loaded test machine can be slow.
			ReadTimeout:  30 * time.Second,
			WriteTimeout: 30 * time.Second,
		})
	}
	return c.client
}

// KeyInSlot returns a key that hashes to slot, as the package function [KeyInSlot].
func (c *Cluster) KeyInSlot(slot int) string {
	return KeyInSlot(slot)
}

// WaitHealthy waits until the live nodes (killed ones are left out) all report
// cluster_state:ok, know each other at their announced addresses without failure
// flags, agree on who is a primary, who replicates whom and which node serves each slot,
// every slot is served by a live primary, and every live replica's link to its primary
// is up. It fails the test, with the last state it saw, if that takes longer than
// [ClusterTimeout].
//
// After a primary is killed, that takes cluster-node-timeout (see [NodeTimeout]) for the
// others to notice, then about a second for its replica to be elected: 2-3 s with the
// default 1 s. A primary without a live replica is never replaced, and the cluster never
// becomes healthy again.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	c.waitFor(t, "cluster to be healthy", (*observation).health)
}

// Failover makes replica a primary with CLUSTER FAILOVER, or CLUSTER FAILOVER FORCE
// when its primary is not alive, and waits until the live nodes agree that it is one and
// the cluster is healthy (see [Cluster.WaitHealthy]). The old primary, if alive, becomes
// replica's replica.
func (c *Cluster) Failover(t testing.TB, replica *ClusterNode) {
	t.Helper()
	self, err := replica.self()
	if err != nil {
		t.Fatalf("redistest: Failover: %v: %v", replica, err)
	}
	if !self.has("slave") {
		t.Fatalf("redistest: Failover: %v is not a replica (flags %s)", replica, strings.Join(self.flags, ","))
	}
	args := []any{"CLUSTER", "FAILOVER"}
	if p := c.byID(self.master); p == nil || !p.Alive() {
		args = append(args, "FORCE")
	}
	c.mustDo(t, replica, args...)
	sent := time.Now()
	c.waitFor(t, fmt.Sprintf("failover to %v", replica), func(obs *observation) string {
		v := obs.view(replica)
		if v != nil && v.self != nil && !v.self.has("master") {
			if time.Since(sent) > failoverRetry {
				_ = c.do(replica, args...).Err() // Redis gave up on the first; reported by the wait
				sent = time.Now()
			}
			return fmt.Sprintf("%v is still a replica", replica)
		}
		return obs.health()
	})
}

// MoveSlot migrates slot, with its keys, from the primary serving it to the primary to,
// the way redis-cli --cluster reshard does (see [Cluster.BeginMigration],
// [Cluster.MigrateKeys], [Cluster.EndMigration]), and waits until the live nodes agree.
// Moving a slot to the primary that serves it does nothing.
func (c *Cluster) MoveSlot(t testing.TB, slot int, to *ClusterNode) {
	t.Helper()
	checkSlot(t, slot)
	if c.PrimaryOf(slot) == to {
		return
	}
	c.BeginMigration(t, slot, to)
	c.EndMigration(t, slot)
}

// BeginMigration starts moving slot from the primary serving it to the primary to:
// CLUSTER SETSLOT IMPORTING on to, then MIGRATING on the source. Until [Cluster.EndMigration],
// the source answers -ASK for the slot's keys that it no longer holds, and to answers
// them only after ASKING.
func (c *Cluster) BeginMigration(t testing.TB, slot int, to *ClusterNode) {
	t.Helper()
	checkSlot(t, slot)
	c.mu.Lock()
	_, busy := c.migrations[slot]
	c.mu.Unlock()
	if busy {
		t.Fatalf("redistest: BeginMigration: slot %d is already migrating", slot)
	}
	from := c.PrimaryOf(slot)
	switch self, err := to.self(); {
	case from == nil:
		t.Fatalf("redistest: BeginMigration: no live node serves slot %d", slot)
	case err != nil:
		t.Fatalf("redistest: BeginMigration: %v: %v", to, err)
	case !self.has("master"):
		t.Fatalf("redistest: BeginMigration: %v is not a primary", to)
	case from == to:
		t.Fatalf("redistest: BeginMigration: %v serves slot %d already", to, slot)
	}
	c.mustDo(t, to, "CLUSTER", "SETSLOT", slot, "IMPORTING", from.id)
	c.mustDo(t, from, "CLUSTER", "SETSLOT", slot, "MIGRATING", to.id)
	c.mu.Lock()
	c.migrations[slot] = migration{from: from, to: to}
	c.mu.Unlock()
}

// MigrateKeys moves up to n keys of slot, which [Cluster.BeginMigration] started to
// migrate, from the source to the target (CLUSTER GETKEYSINSLOT, then MIGRATE in
// batches), and returns how many it moved: fewer than n when fewer were left.
func (c *Cluster) MigrateKeys(t testing.TB, slot int, n int) int {
	t.Helper()
	return c.migrateKeys(t, c.migration(t, slot), slot, n)
}

// EndMigration finishes moving slot, which [Cluster.BeginMigration] started to migrate:
// it moves the keys left, gives the slot to the target with CLUSTER SETSLOT NODE on the
// target, the source and every other live primary, and waits until the live nodes agree
// and the cluster is healthy.
func (c *Cluster) EndMigration(t testing.TB, slot int) {
	t.Helper()
	m := c.migration(t, slot)
	for {
		if c.migrateKeys(t, m, slot, migrateBatch) == 0 {
			break
		}
	}
	c.mustDo(t, m.to, "CLUSTER", "SETSLOT", slot, "NODE", m.to.id)
	c.mustDo(t, m.from, "CLUSTER", "SETSLOT", slot, "NODE", m.to.id)
	for _, p := range c.Primaries() {
		if p != m.to && p != m.from {
			c.mustDo(t, p, "CLUSTER", "SETSLOT", slot, "NODE", m.to.id)
		}
	}
	c.mu.Lock()
	delete(c.migrations, slot)
	c.mu.Unlock()
	c.waitFor(t, fmt.Sprintf("slot %d to move to %v", slot, m.to), func(obs *observation) string {
		if p := obs.health(); p != "" {
			return p
		}
		for _, v := range obs.views {
			if owner := v.owner(slot); owner != m.to.id {
				return fmt.Sprintf("%v sees slot %d at %s", v.node, slot, owner)
			}
			for _, e := range v.nodes {
				if e.has("myself") && len(e.open) > 0 {
					return fmt.Sprintf("%v still has open slots %v", v.node, e.open)
				}
			}
		}
		return ""
	})
}

func (c *Cluster) migration(t testing.TB, slot int) migration {
	t.Helper()
	c.mu.Lock()
	m, ok := c.migrations[slot]
	c.mu.Unlock()
	if !ok {
		t.Fatalf("redistest: slot %d is not migrating: call BeginMigration first", slot)
	}
	return m
}

// migrateKeys moves up to n keys of slot from m.from to m.to and returns how many.
func (c *Cluster) migrateKeys(t testing.TB, m migration, slot, n int) int {
	t.Helper()
	moved := 0
	for moved < n {
		keys, err := c.do(m.from, "CLUSTER", "GETKEYSINSLOT", slot, min(migrateBatch, n-moved)).StringSlice()
		if err != nil {
			t.Fatalf("redistest: CLUSTER GETKEYSINSLOT %d on %v: %v", slot, m.from, err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", "127.0.0.1", m.to.Port(), "", 0, migrateTimeout.Milliseconds()}
		if pw := m.from.srv.Password(); pw != "" {
			args = append(args, "AUTH", pw)
		}
		args = append(args, "KEYS")
		for _, k := range keys {
			args = append(args, k)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*migrateTimeout)
		err = m.from.Client().Do(ctx, args...).Err()
		cancel()
		if err != nil {
			t.Fatalf("redistest: MIGRATE %d keys of slot %d from %v to %v: %v", len(keys), slot, m.from, m.to, err)
		}
		moved += len(keys)
	}
	return moved
}

// ID returns the node's cluster node id.
func (n *ClusterNode) ID() string { return n.id }

// Addr returns the node's real address, "127.0.0.1:port", which does not change, even
// with AnnouncePort.
func (n *ClusterNode) Addr() string { return n.srv.Addr() }

// Port returns the node's real port. Its cluster bus listens on Port()+10000.
func (n *ClusterNode) Port() int { return n.srv.port }

// Client returns a plain go-redis client of the node, speaking RESP2: it does not follow
// MOVED or ASK, so a test sees what the node itself answers. The same client is returned
// on every call; it is closed by the cleanup of StartCluster.
func (n *ClusterNode) Client() *redis.Client { return n.srv.Client() }

// Kill kills the node with SIGKILL and waits until the process has exited, as
// [Server.Kill] does. Killing a node that is not running does nothing.
func (n *ClusterNode) Kill() { n.srv.Kill() }

// Restart starts the node again on the same ports, killing it first if it is running,
// and waits until it answers PING. It keeps its cluster config file, so it rejoins the
// cluster under the same ID and with the same role, unless the cluster moved on: a
// primary that was replaced comes back as a replica of its successor. Its data is gone.
// Call [Cluster.WaitHealthy] to wait until it has rejoined. Restart reports failure
// with t.Fatalf of the test that started the cluster: call it from that test's
// goroutine.
func (n *ClusterNode) Restart() { n.srv.Restart() }

// Alive reports whether the node's process is running.
func (n *ClusterNode) Alive() bool { return n.srv.running() }

// String describes the node for test messages: "node 0 (127.0.0.1:port)".
func (n *ClusterNode) String() string {
	return fmt.Sprintf("node %d (%s)", n.index, n.Addr())
}

// announcedAddr is the address the node gives the cluster, as CLUSTER NODES shows it.
func (n *ClusterNode) announcedAddr() string {
	port := n.Port()
	if n.announce != 0 {
		port = n.announce
	}
	return fmt.Sprintf("127.0.0.1:%d@%d", port, n.Port()+busPortOffset)
}

// self returns the node's own line of CLUSTER NODES.
func (n *ClusterNode) self() (*clusterEntry, error) {
	if !n.Alive() {
		return nil, errors.New("not alive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCmdTimeout)
	defer cancel()
	raw, err := n.Client().ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES: %w", err)
	}
	for _, e := range parseClusterNodes(raw) {
		if e.has("myself") {
			return &e, nil
		}
	}
	return nil, errors.New("CLUSTER NODES has no myself line")
}

// running reports whether the server's process is running.
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (c *Cluster) byID(id string) *ClusterNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// do sends one administrative command to n.
func (c *Cluster) do(n *ClusterNode, args ...any) *redis.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCmdTimeout)
	defer cancel()
	return n.Client().Do(ctx, args...)
}

// mustDo sends one administrative command to n and fails the test if it fails.
func (c *Cluster) mustDo(t testing.TB, n *ClusterNode, args ...any) {
	t.Helper()
	if err := c.do(n, args...).Err(); err != nil {
		t.Fatalf("redistest: %v on %v: %v", args, n, err)
	}
}

func checkSlot(t testing.TB, slot int) {
	t.Helper()
	if slot < 0 || slot >= SlotCount {
		t.Fatalf("redistest: slot %d out of range [0, %d)", slot, SlotCount)
	}
}

// waitFor polls the live nodes' state until cond returns "" for it, or fails the test
// after ClusterTimeout with what cond last returned and the state it saw.
func (c *Cluster) waitFor(t testing.TB, what string, cond func(*observation) string) {
	t.Helper()
	deadline := time.Now().Add(ClusterTimeout)
	for {
		obs := c.observe()
		problem := cond(obs)
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: waiting for %s: not done within %v: %s\nlast state seen:\n%s",
				what, ClusterTimeout, problem, obs.dump())
		}
		time.Sleep(clusterPoll) // polling interval, not synchronisation
	}
}

// observation is what the live nodes said about the cluster at one moment.
type observation struct {
	c     *Cluster
	live  []*ClusterNode
	views []*nodeView // one per live node, in the same order
}

// nodeView is what one node says.
type nodeView struct {
	node  *ClusterNode
	err   error          // the first command that failed, if any
	state string         // cluster_state of CLUSTER INFO
	raw   string         // CLUSTER NODES
	nodes []clusterEntry // parsed raw
	self  *clusterEntry  // the myself line of nodes
	link  string         // master_link_status of INFO replication, for a replica
}

func (c *Cluster) observe() *observation {
	obs := &observation{c: c}
	for _, n := range c.nodes {
		if n.Alive() {
			obs.live = append(obs.live, n)
			obs.views = append(obs.views, n.view())
		}
	}
	return obs
}

func (n *ClusterNode) view() *nodeView {
	v := &nodeView{node: n}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCmdTimeout)
	defer cancel()
	cl := n.Client()
	info, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		v.err = fmt.Errorf("CLUSTER INFO: %w", err)
		return v
	}
	v.state = infoField(info, "cluster_state")
	if v.raw, err = cl.ClusterNodes(ctx).Result(); err != nil {
		v.err = fmt.Errorf("CLUSTER NODES: %w", err)
		return v
	}
	v.nodes = parseClusterNodes(v.raw)
	for i := range v.nodes {
		if v.nodes[i].has("myself") {
			v.self = &v.nodes[i]
		}
	}
	if v.self == nil {
		v.err = errors.New("CLUSTER NODES has no myself line")
		return v
	}
	if v.self.has("slave") {
		repl, err := cl.Info(ctx, "replication").Result()
		if err != nil {
			v.err = fmt.Errorf("INFO replication: %w", err)
			return v
		}
		v.link = infoField(repl, "master_link_status")
	}
	return v
}

func (obs *observation) view(n *ClusterNode) *nodeView {
	for _, v := range obs.views {
		if v.node == n {
			return v
		}
	}
	return nil
}

// health returns "" when the live nodes form a healthy cluster (see
// Cluster.WaitHealthy), or else the first problem it finds.
func (obs *observation) health() string {
	if len(obs.views) == 0 {
		return "no node is alive"
	}
	var ref *nodeView
	var refMap string
	for _, v := range obs.views {
		if v.err != nil {
			return fmt.Sprintf("%v: %v", v.node, v.err)
		}
		if v.state != "ok" {
			return fmt.Sprintf("%v: cluster_state:%s", v.node, v.state)
		}
		for _, e := range v.nodes {
			if e.has("handshake") {
				return fmt.Sprintf("%v: handshake with %s in progress", v.node, e.addr)
			}
		}
		for _, n := range obs.live {
			e := v.entry(n.id)
			if e == nil {
				return fmt.Sprintf("%v does not know %v", v.node, n)
			}
			for _, bad := range []string{"fail", "fail?", "noaddr"} {
				if e.has(bad) {
					return fmt.Sprintf("%v sees %v as %s", v.node, n, bad)
				}
			}
			if want := n.announcedAddr(); e.addr != want {
				return fmt.Sprintf("%v sees %v at %s, want %s", v.node, n, e.addr, want)
			}
			if !e.has("myself") && !e.connected {
				return fmt.Sprintf("%v has no link to %v", v.node, n)
			}
		}
		m := obs.topology(v)
		if ref == nil {
			ref, refMap = v, m
		} else if m != refMap {
			return fmt.Sprintf("%v and %v disagree:\n%s\nversus\n%s", ref.node, v.node, refMap, m)
		}
	}
	// All agree: check the one map.
	v := obs.views[0]
	owners := v.owners()
	for lo := 0; lo < SlotCount; {
		hi := lo
		for hi+1 < SlotCount && owners[hi+1] == owners[lo] {
			hi++
		}
		if n := obs.c.byID(owners[lo]); n == nil || !n.Alive() {
			return fmt.Sprintf("slots %d-%d are served by no live node (owner %q)", lo, hi, owners[lo])
		}
		lo = hi + 1
	}
	for _, r := range obs.views {
		if !r.self.has("slave") {
			continue
		}
		p := obs.c.byID(r.self.master)
		if p == nil || !p.Alive() {
			return fmt.Sprintf("%v replicates %s, not a live node", r.node, r.self.master)
		}
		if e := v.entry(p.id); !e.has("master") {
			return fmt.Sprintf("%v replicates %v, which is not a primary", r.node, p)
		}
		// Nothing can replicate a primary that announces a port it does not listen on.
		if p.announce == 0 && r.link != "up" {
			return fmt.Sprintf("%v: master_link_status:%s", r.node, r.link)
		}
	}
	return ""
}

// topology is v's account of the live nodes and of the slot map, in a form to compare.
func (obs *observation) topology(v *nodeView) string {
	var b strings.Builder
	for _, n := range obs.live {
		e := v.entry(n.id)
		role := "primary"
		if e.has("slave") {
			role = "replica of " + e.master
		}
		fmt.Fprintf(&b, "%s %s %s\n", n.id, e.addr, role)
	}
	owners := v.owners()
	for lo := 0; lo < SlotCount; {
		hi := lo
		for hi+1 < SlotCount && owners[hi+1] == owners[lo] {
			hi++
		}
		fmt.Fprintf(&b, "slots %d-%d: %s\n", lo, hi, owners[lo])
		lo = hi + 1
	}
	return b.String()
}

// dump renders the observation for a failure message.
func (obs *observation) dump() string {
	var b strings.Builder
	for _, n := range obs.c.nodes {
		if !n.Alive() {
			fmt.Fprintf(&b, "%v, id %s: killed\n", n, n.id)
		}
	}
	for _, v := range obs.views {
		fmt.Fprintf(&b, "%v, id %s: cluster_state:%s", v.node, v.node.id, v.state)
		if v.link != "" {
			fmt.Fprintf(&b, " master_link_status:%s", v.link)
		}
		if v.err != nil {
			fmt.Fprintf(&b, " error: %v", v.err)
		}
		b.WriteString("\n")
		for line := range strings.SplitSeq(strings.TrimSpace(v.raw), "\n") {
			if line != "" {
				fmt.Fprintf(&b, "    %s\n", line)
			}
		}
	}
	return b.String()
}

func (v *nodeView) entry(id string) *clusterEntry {
	for i := range v.nodes {
		if v.nodes[i].id == id {
			return &v.nodes[i]
		}
	}
	return nil
}

// owners returns the id of the node serving each slot in v's map, "" for none.
func (v *nodeView) owners() []string {
	owners := make([]string, SlotCount)
	for _, e := range v.nodes {
		for _, r := range e.slots {
			for s := r[0]; s <= r[1] && s < SlotCount; s++ {
				owners[s] = e.id
			}
		}
	}
	return owners
}

func (v *nodeView) owner(slot int) string {
	for _, e := range v.nodes {
		if e.owns(slot) {
			return e.id
		}
	}
	return ""
}

// clusterEntry is one line of CLUSTER NODES:
//
//	<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> ...
type clusterEntry struct {
	id        string
	addr      string // ip:port@cport
	flags     []string
	master    string // id of its primary, "-" for a primary
	epoch     int64
	connected bool
	slots     [][2]int // inclusive ranges
	open      []string // migrating and importing slots: "[slot->-id]", "[slot-<-id]"
}

func (e *clusterEntry) has(flag string) bool {
	return e != nil && slices.Contains(e.flags, flag)
}

func (e *clusterEntry) owns(slot int) bool {
	for _, r := range e.slots {
		if r[0] <= slot && slot <= r[1] {
			return true
		}
	}
	return false
}

// parseClusterNodes parses the reply of CLUSTER NODES, skipping malformed lines.
func parseClusterNodes(raw string) []clusterEntry {
	var entries []clusterEntry
	for line := range strings.SplitSeq(raw, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], ",") // drop the hostname
		e := clusterEntry{
			id:        f[0],
			addr:      addr,
			flags:     strings.Split(f[2], ","),
			master:    f[3],
			connected: f[7] == "connected",
		}
		e.epoch, _ = strconv.ParseInt(f[6], 10, 64)
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") {
				e.open = append(e.open, s)
				continue
			}
			los, his, isRange := strings.Cut(s, "-")
			if !isRange {
				his = los
			}
			lo, err1 := strconv.Atoi(los)
			hi, err2 := strconv.Atoi(his)
			if err1 == nil && err2 == nil {
				e.slots = append(e.slots, [2]int{lo, hi})
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// infoField returns the value of field in the reply of INFO or CLUSTER INFO.
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// KeyInSlot returns a key that hashes to slot: the first of "k0", "k1", ... that does.
// It contains no braces, so "{"+KeyInSlot(s)+"}"+anything hashes to s too (see
// [KeysInSlot]). It panics if slot is not in [0, SlotCount).
func KeyInSlot(slot int) string {
	if slot < 0 || slot >= SlotCount {
		panic(fmt.Sprintf("redistest: KeyInSlot(%d): slot out of range [0, %d)", slot, SlotCount))
	}
	return slotKeys()[slot]
}

// KeysInSlot returns n distinct keys that hash to slot: "{k}:0", "{k}:1", ... where k is
// KeyInSlot(slot). It panics if slot is not in [0, SlotCount).
func KeysInSlot(slot, n int) []string {
	tag := "{" + KeyInSlot(slot) + "}:"
	keys := make([]string, n)
	for i := range keys {
		keys[i] = tag + strconv.Itoa(i)
	}
	return keys
}

// slotKeys holds KeyInSlot's answer for every slot; about 170,000 keys are tried to fill
// it.
var slotKeys = sync.OnceValue(func() []string {
	keys := make([]string, SlotCount)
	left := SlotCount
	for i := 0; left > 0; i++ {
		k := "k" + strconv.Itoa(i)
		if s := keySlot(k); keys[s] == "" {
			keys[s] = k
			left--
		}
	}
	return keys
})

// keySlot is the hash slot of a key without a hash tag: CRC-16/XMODEM modulo 16384.
func keySlot(key string) int {
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % SlotCount
}
