package cluster_test

import (
	"testing"

	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/internal/cmdgen"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// TestCrosstalk is the crosstalk test of package router (see TestCrosstalk there) in
// front of a real Redis Cluster: while victims pipeline PINGs of tokens of their own
// over the shared connections of every node and both event loops of the proxy, in
// RESP2 and RESP3, an attacker sends every command and subcommand the cluster's nodes
// have (from COMMAND DOCS, some malformed on purpose) and the commands that would change
// a shared connection's state or its number of replies. No victim may get a reply that
// is not its own, and none may starve; the commands that would take a server away from
// every client must be refused, those the command model says the proxy refuses; the
// others are left out.
func TestCrosstalk(t *testing.T) {
	t.Parallel()
	// The attack stalls nodes on purpose (SCRIPT DEBUG SYNC holds a node until its
	// client leaves, PFSELFTEST takes a second or more on a loaded machine): a node
	// timeout far above the default 1s keeps the cluster from marking them failed.
	c := redistest.StartCluster(t, redistest.Replicas(0), redistest.NodeTimeout(wait),
		redistest.NodeArgs("--enable-debug-command", "yes"))
	b := newBackend(t, cluster.Config{Seeds: c.Seeds()})
	witness := cmdgen.NewLoopWitness()
	srv := proxytest.NewServer(t, proxy.Chain(router.New(b), witness), proxy.WithEventLoops(2))
	t.Cleanup(func() {
		if st := srv.Stats(); st.DoubleReplies != 0 || st.LateReplies != 0 {
			t.Errorf("proxy stats %+v: a command was answered twice or late", st)
		}
	})

	docs := cmdgen.Fetch(t, c.Nodes()[0].Addr())
	cmdgen.CheckServerWide(t, srv.Addr(), docs, refused)
	g := cmdgen.New(cmdgen.Seed(t), 0.2)
	attacks := append(cmdgen.Attacks(docs, g, 3), cmdgen.Dangerous...)
	g.Shuffle(attacks)
	// 12 victims, the first 6 in RESP3: a keyless command goes to the node of its
	// connection's ID modulo 3, and consecutive connections alternate between the 2
	// event loops, so that each protocol has, as a rule (the IDs are the process's,
	// which parallel tests share), a victim on every node and loop.
	cfg := cmdgen.Crosstalk{Addr: srv.Addr(), Deadline: wait, Victims: 12, Fresh: cmdgen.Dangerous}
	cmdgen.CheckCrosstalk(t, cfg, attacks)
	if t.Failed() {
		return // the server connections are out of step: what follows would hang
	}

	if victims, loops := witness.Spread(); victims != 12 || loops != 2 {
		t.Errorf("victims seen: %d, on %d event loops; want 12 on both loops", victims, loops)
	}
	// Every node still serves, through the proxy.
	after := proxytest.Dial(t, srv.Addr())
	for _, n := range c.Primaries() {
		key := "after"
		for slot := 0; slot < redistest.SlotCount; slot += 1000 {
			if c.PrimaryOf(slot) == n {
				key = redistest.KeyInSlot(slot)
				break
			}
		}
		if v := after.Do("SET", key, "1"); string(v.AppendTo(nil)) != "+OK\r\n" {
			t.Errorf("SET %s (on %s) after the attack = %q", key, n, v.AppendTo(nil))
		}
	}
}

// refused reports whether the command model classes the command of words Refused.
func refused(words []string) bool {
	args := make([][]byte, len(words))
	for i, w := range words {
		args[i] = []byte(w)
	}
	c, ok := command.LookupArgs(args)
	return ok && c.Class == command.Refused
}
