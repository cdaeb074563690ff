package router_test

import (
	"testing"

	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/internal/cmdgen"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// crosstalkPerCommand is how many generated invocations of each command and subcommand
// of the server the crosstalk test sends.
const crosstalkPerCommand = 3

// TestCrosstalk is the acceptance test of the command model's routing classes: while
// victims pipeline PINGs of tokens of their own over the proxy's shared server
// connections, on both of its event loops and in RESP2 and RESP3, an attacker sends
// every command and subcommand the server has (from its COMMAND DOCS, some malformed on
// purpose) and the commands that would change a shared connection's state or its number
// of replies (REPLCONF ACK, CLIENT REPLY, SCRIPT DEBUG, subscriptions, MONITOR, blocking
// commands...). No victim may get a reply that is not its own, and none may starve. The
// commands that would take the server away from every client (SHUTDOWN...) must be
// refused, those the command model says the proxy refuses; the others are left out.
func TestCrosstalk(t *testing.T) {
	s := redistest.Start(t, redistest.Args("--enable-debug-command", "yes"))
	b, err := redisbackend.New(redisbackend.Config{Addr: s.Addr(), Logger: testLogger(t, "backend")})
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("backend close: %v", err)
		}
	})
	witness := cmdgen.NewLoopWitness()
	srv := proxytest.NewServer(t, proxy.Chain(router.New(b), witness),
		proxy.WithEventLoops(2), proxy.WithLogger(testLogger(t, "proxy")))
	t.Cleanup(func() {
		if st := srv.Stats(); st.DoubleReplies != 0 || st.LateReplies != 0 {
			t.Errorf("proxy stats %+v: a command was answered twice or late", st)
		}
	})

	// As a proxy binary does (cli), and as the other tests of the package do: the model
	// knows the server's commands, and answers those the server lacks itself.
	learnFrom(t, s.Addr())
	docs := cmdgen.Fetch(t, s.Addr())
	cmdgen.CheckServerWide(t, srv.Addr(), docs, refused)
	g := cmdgen.New(cmdgen.Seed(t), 0.2)
	attacks := append(cmdgen.Attacks(docs, g, crosstalkPerCommand), cmdgen.Dangerous...)
	g.Shuffle(attacks)
	cfg := cmdgen.Crosstalk{Addr: srv.Addr(), Deadline: wait, Fresh: cmdgen.Dangerous}
	cmdgen.CheckCrosstalk(t, cfg, attacks)
	if t.Failed() {
		return // the server connections are out of step: what follows would hang
	}

	if victims, loops := witness.Spread(); victims != 8 || loops != 2 {
		t.Errorf("victims seen: %d, on %d event loops; want 8 on both loops", victims, loops)
	}
	// The server is still there, and the proxy still serves a new client.
	if v := proxytest.Dial(t, srv.Addr()).Do("PING", "after"); reply(v) != "$5\r\nafter\r\n" {
		t.Errorf("PING after the attack = %q", reply(v))
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
