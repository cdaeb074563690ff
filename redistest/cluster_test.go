package redistest_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redchain/redchain/redistest"
)

// timed logs how long the rest of the test took, when it ends.
func timed(t *testing.T, what string) func() {
	start := time.Now()
	return func() { t.Logf("%s took %v", what, time.Since(start).Round(time.Millisecond)) }
}

// slotCounts returns how many slots each node serves, by CLUSTER SHARDS as n sees it.
func slotCounts(t *testing.T, n *redistest.ClusterNode) map[string]int {
	t.Helper()
	shards, err := n.Client().ClusterShards(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLUSTER SHARDS: %v", err)
	}
	counts := map[string]int{}
	for _, sh := range shards {
		for _, node := range sh.Nodes {
			if node.Role != "master" {
				continue
			}
			for _, r := range sh.Slots {
				counts[node.ID] += int(r.End - r.Start + 1)
			}
		}
	}
	return counts
}

func TestStartCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	done := timed(t, "StartCluster")
	c := redistest.StartCluster(t)
	done()

	nodes := c.Nodes()
	if len(nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(nodes))
	}
	if got, want := c.Primaries(), nodes[:3]; !slices.Equal(got, want) {
		t.Fatalf("Primaries() = %v, want %v", got, want)
	}
	counts := slotCounts(t, nodes[5])
	for i, want := range []int{5461, 5461, 5462} {
		if got := counts[nodes[i].ID()]; got != want {
			t.Errorf("%v serves %d slots, want %d", nodes[i], got, want)
		}
		if got := c.ReplicasOf(nodes[i]); !slices.Equal(got, nodes[3+i:4+i]) {
			t.Errorf("ReplicasOf(%v) = %v, want [%v]", nodes[i], got, nodes[3+i])
		}
	}
	for slot, want := range map[int]*redistest.ClusterNode{0: nodes[0], 5460: nodes[0], 5461: nodes[1], 10922: nodes[2], 16383: nodes[2]} {
		if got := c.PrimaryOf(slot); got != want {
			t.Errorf("PrimaryOf(%d) = %v, want %v", slot, got, want)
		}
	}
	seeds := c.Seeds()
	for i, n := range nodes {
		if seeds[i] != n.Addr() || n.Addr() != net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port())) {
			t.Errorf("Seeds()[%d] = %s, Addr() = %s, Port() = %d", i, seeds[i], n.Addr(), n.Port())
		}
		if !n.Alive() || len(n.ID()) != 40 {
			t.Errorf("%v: Alive() = %v, ID() = %q", n, n.Alive(), n.ID())
		}
	}

	// KeyInSlot and KeysInSlot agree with the server's CRC16.
	for _, slot := range []int{0, 1, 100, 5460, 5461, 12182, 16383} {
		keys := append(redistest.KeysInSlot(slot, 2), c.KeyInSlot(slot))
		for _, k := range keys {
			got, err := nodes[0].Client().ClusterKeySlot(ctx, k).Result()
			if err != nil || int(got) != slot {
				t.Errorf("CLUSTER KEYSLOT %s = %d, %v; want %d", k, got, err, slot)
			}
		}
	}

	cc := c.Client()
	for i := range 1000 {
		if err := cc.Set(ctx, fmt.Sprint("key", i), i, 0).Err(); err != nil {
			t.Fatalf("SET key%d: %v", i, err)
		}
	}
	for i := range 1000 {
		if v, err := cc.Get(ctx, fmt.Sprint("key", i)).Int(); err != nil || v != i {
			t.Fatalf("GET key%d = %d, %v; want %d", i, v, err, i)
		}
	}
	total := int64(0)
	for _, p := range c.Primaries() {
		n, err := p.Client().DBSize(ctx).Result()
		if err != nil || n == 0 {
			t.Errorf("DBSIZE on %v = %d, %v; want some of the keys", p, n, err)
		}
		total += n
	}
	if total != 1000 {
		t.Errorf("the primaries hold %d keys, want 1000", total)
	}
}

func TestKeyInSlotCoversEverySlot(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for slot := range redistest.SlotCount {
		k := redistest.KeyInSlot(slot)
		if seen[k] {
			t.Fatalf("KeyInSlot(%d) = %q, given for another slot too", slot, k)
		}
		seen[k] = true
	}
	for _, slot := range []int{-1, redistest.SlotCount} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("KeyInSlot(%d) did not panic", slot)
				}
			}()
			redistest.KeyInSlot(slot)
		}()
	}
}

// writeSlot writes n keys of slot through the cluster client and returns them.
func writeSlot(t *testing.T, c *redistest.Cluster, slot, n int) []string {
	t.Helper()
	keys := redistest.KeysInSlot(slot, n)
	for _, k := range keys {
		if err := c.Client().Set(context.Background(), k, "v:"+k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	return keys
}

// wantRedirect checks that n answers GET key with a redirect of kind ("MOVED" or "ASK")
// to slot on to.
func wantRedirect(t *testing.T, n *redistest.ClusterNode, key, kind string, slot int, to *redistest.ClusterNode) {
	t.Helper()
	err := n.Client().Get(context.Background(), key).Err()
	want := fmt.Sprintf("%s %d %s", kind, slot, to.Addr())
	if err == nil || err.Error() != want {
		t.Errorf("GET %s on %v: %v; want %s", key, n, err, want)
	}
}

// wantKeys checks that n holds keys, with the values writeSlot gave them.
func wantKeys(t *testing.T, n *redistest.ClusterNode, keys []string) {
	t.Helper()
	for _, k := range keys {
		if v, err := n.Client().Get(context.Background(), k).Result(); err != nil || v != "v:"+k {
			t.Errorf("GET %s on %v = %q, %v; want %q", k, n, v, err, "v:"+k)
		}
	}
}

func TestMoveSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// With a password, so that MIGRATE has to AUTH.
	c := redistest.StartCluster(t, redistest.NodeArgs("--requirepass", "pw", "--masterauth", "pw"))
	nodes := c.Nodes()
	const slot = 100
	from, to := nodes[0], nodes[1]
	keys := writeSlot(t, c, slot, 250) // more than one MIGRATE batch

	done := timed(t, "MoveSlot")
	c.MoveSlot(t, slot, to)
	done()

	if got := c.PrimaryOf(slot); got != to {
		t.Fatalf("PrimaryOf(%d) = %v, want %v", slot, got, to)
	}
	wantKeys(t, to, keys)
	wantRedirect(t, from, keys[0], "MOVED", slot, to)
	if n, err := from.Client().ClusterCountKeysInSlot(ctx, slot).Result(); err != nil || n != 0 {
		t.Errorf("CLUSTER COUNTKEYSINSLOT %d on %v = %d, %v; want 0", slot, from, n, err)
	}
	counts := slotCounts(t, nodes[2])
	if counts[from.ID()] != 5460 || counts[to.ID()] != 5462 {
		t.Errorf("slot counts after the move: %v", counts)
	}
	if v, err := c.Client().Get(ctx, keys[1]).Result(); err != nil || v != "v:"+keys[1] {
		t.Errorf("cluster client GET %s = %q, %v", keys[1], v, err)
	}
	c.MoveSlot(t, slot, to) // already there: nothing to do
}

func TestStepwiseMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.StartCluster(t)
	nodes := c.Nodes()
	const slot = 12000
	from, to := nodes[2], nodes[0]
	keys := writeSlot(t, c, slot, 30)

	c.BeginMigration(t, slot, to)
	if got := c.MigrateKeys(t, slot, 10); got != 10 {
		t.Fatalf("MigrateKeys(10) moved %d", got)
	}
	if got := c.PrimaryOf(slot); got != from {
		t.Errorf("PrimaryOf(%d) during the migration = %v, want %v", slot, got, from)
	}
	// EXISTS on the source would answer ASK for a key it no longer has: list its keys.
	left, err := from.Client().ClusterGetKeysInSlot(ctx, slot, 100).Result()
	if err != nil {
		t.Fatalf("CLUSTER GETKEYSINSLOT on %v: %v", from, err)
	}
	moved := 0
	for _, k := range keys {
		if slices.Contains(left, k) {
			wantKeys(t, from, []string{k})
		} else {
			moved++
			wantRedirect(t, from, k, "ASK", slot, to)
			wantRedirect(t, to, k, "MOVED", slot, from) // without ASKING
		}
		// The cluster client follows ASK.
		if v, err := c.Client().Get(ctx, k).Result(); err != nil || v != "v:"+k {
			t.Errorf("cluster client GET %s = %q, %v", k, v, err)
		}
	}
	if moved != 10 {
		t.Errorf("%d keys gone from the source, want 10", moved)
	}

	done := timed(t, "EndMigration")
	c.EndMigration(t, slot)
	done()
	if got := c.PrimaryOf(slot); got != to {
		t.Fatalf("PrimaryOf(%d) = %v, want %v", slot, got, to)
	}
	wantKeys(t, to, keys)
	wantRedirect(t, from, keys[0], "MOVED", slot, to)
}

func TestFailover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.StartCluster(t)
	nodes := c.Nodes()
	old, replica := nodes[1], nodes[4]
	keys := writeSlot(t, c, 6000, 5)

	done := timed(t, "Failover")
	c.Failover(t, replica)
	done()

	if got, want := c.Primaries(), []*redistest.ClusterNode{nodes[0], nodes[2], replica}; !slices.Equal(got, want) {
		t.Fatalf("Primaries() = %v, want %v", got, want)
	}
	if got := c.ReplicasOf(replica); !slices.Equal(got, []*redistest.ClusterNode{old}) {
		t.Errorf("ReplicasOf(%v) = %v, want [%v]", replica, got, old)
	}
	if got := c.PrimaryOf(6000); got != replica {
		t.Errorf("PrimaryOf(6000) = %v, want %v", got, replica)
	}
	wantKeys(t, replica, keys)
	wantRedirect(t, old, keys[0], "MOVED", 6000, replica)
	if err := c.Client().Set(ctx, keys[0], "v:"+keys[0], 0).Err(); err != nil {
		t.Errorf("cluster client SET after the failover: %v", err)
	}
}

func TestKillPrimary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := redistest.StartCluster(t, redistest.NodeTimeout(time.Second))
	nodes := c.Nodes()
	old, replica := nodes[0], nodes[3]
	keys := writeSlot(t, c, 0, 5)
	if n, err := old.Client().Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}

	old.Kill()
	if old.Alive() {
		t.Fatal("Alive() after Kill")
	}
	if got := c.PrimaryOf(0); got != nil {
		t.Errorf("PrimaryOf(0) right after the kill = %v, want nil", got)
	}
	done := timed(t, "promotion after Kill")
	c.WaitHealthy(t)
	done()

	if got, want := c.Primaries(), []*redistest.ClusterNode{nodes[1], nodes[2], replica}; !slices.Equal(got, want) {
		t.Fatalf("Primaries() = %v, want %v", got, want)
	}
	if got := c.PrimaryOf(0); got != replica {
		t.Errorf("PrimaryOf(0) = %v, want %v", got, replica)
	}
	wantKeys(t, replica, keys)

	// The old primary comes back as the replica of its successor.
	done = timed(t, "Restart and rejoin")
	old.Restart()
	c.WaitHealthy(t)
	done()
	if got := c.ReplicasOf(replica); !slices.Equal(got, []*redistest.ClusterNode{old}) {
		t.Errorf("ReplicasOf(%v) = %v, want [%v]", replica, got, old)
	}
}

func TestAnnouncePort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Ports nothing listens on: free a moment ago.
	fake := make([]int, 2)
	for i := range fake {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fake[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	// Node 0 is a primary, node 4 a replica (of node 1).
	c := redistest.StartCluster(t, redistest.AnnouncePort(0, fake[0]), redistest.AnnouncePort(4, fake[1]))
	nodes := c.Nodes()
	want := map[string]int{}
	for _, n := range nodes {
		want[n.ID()] = n.Port()
	}
	want[nodes[0].ID()], want[nodes[4].ID()] = fake[0], fake[1]

	for _, n := range nodes {
		shards, err := n.Client().ClusterShards(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER SHARDS on %v: %v", n, err)
		}
		seen := 0
		for _, sh := range shards {
			for _, node := range sh.Nodes {
				seen++
				if int(node.Port) != want[node.ID] {
					t.Errorf("CLUSTER SHARDS on %v: %s at port %d, want %d", n, node.ID, node.Port, want[node.ID])
				}
			}
		}
		if seen != 6 {
			t.Errorf("CLUSTER SHARDS on %v lists %d nodes, want 6", n, seen)
		}
		//lint:ignore SA1019 CLUSTER SLOTS is deprecated, but clients still ask it
		slots, err := n.Client().ClusterSlots(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER SLOTS on %v: %v", n, err)
		}
		for _, s := range slots {
			for _, node := range s.Nodes {
				if _, port, _ := strings.Cut(node.Addr, ":"); port != strconv.Itoa(want[node.ID]) {
					t.Errorf("CLUSTER SLOTS on %v: %s at %s, want port %d", n, node.ID, node.Addr, want[node.ID])
				}
			}
		}
	}
	// Redirects give the announced address; the real one still answers.
	key := redistest.KeyInSlot(0)
	err := nodes[1].Client().Get(ctx, key).Err()
	if want := fmt.Sprintf("MOVED 0 127.0.0.1:%d", fake[0]); err == nil || err.Error() != want {
		t.Errorf("GET %s on %v: %v; want %s", key, nodes[1], err, want)
	}
	if err := nodes[0].Client().Set(ctx, key, "v", 0).Err(); err != nil {
		t.Errorf("SET %s on %v's real address: %v", key, nodes[0], err)
	}
	c.WaitHealthy(t)
}
