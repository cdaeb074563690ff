package command

import (
	"slices"
	"strings"
	"testing"

	"github.com/redchain/redchain/internal/cmdgen"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

// ownParsers are the commands whose keys Keys finds as the command itself reads its
// arguments, where Redis's COMMAND GETKEYS may name others (see Keys).
var ownParsers = map[string]bool{"sort": true, "georadius": true, "georadiusbymember": true, "xread": true, "xreadgroup": true, "pfmerge": true}

// casesPerCommand is how many invocations of each command with keys the differential
// test generates.
const casesPerCommand = 40

// TestKeysAgainstGetkeys is the differential test of the key finder: invocations of
// every command and subcommand with keys that a real server has, built from the
// server's own argument docs (COMMAND DOCS) with random values and some malformed on
// purpose, and for each the keys Keys finds and those of the server's COMMAND GETKEYS
// must be the same (or both none), and Check must find the arity wrong exactly when
// the server does. For the commands Keys reads as the commands themselves do, a
// disagreement is settled by running the command on the server and watching which keys
// it modified (keyspace notifications) or read (the reply): they must be among Keys's.
func TestKeysAgainstGetkeys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	docs := cmdgen.Fetch(t, srv.Addr())
	g := cmdgen.New(cmdgen.Seed(t), 0.25)
	var invs [][]string
	commands := 0
	for _, name := range docs.Names() {
		d := docs[name]
		c, ok := LookupArgs(argsOf(d.Words))
		if !ok {
			t.Errorf("the server has %s, the model does not", name)
			continue
		}
		if !d.HasKeys() && !c.HasKeys() {
			continue
		}
		commands++
		for range casesPerCommand {
			invs = append(invs, g.Args(d))
		}
	}
	if commands < 150 {
		t.Fatalf("only %d commands with keys", commands)
	}

	cl := proxytest.Dial(t, srv.Addr())
	for _, inv := range invs {
		cl.Send(append([]string{"COMMAND", "GETKEYS"}, inv...))
	}
	var disputed [][]string
	compared := 0
	for _, inv := range invs {
		v, err := cl.Read().Decode()
		if err != nil {
			t.Fatalf("COMMAND GETKEYS %q: %v", inv, err)
		}
		args := argsOf(inv)
		c, refusal := Check(args)
		msg := string(v.Str)
		switch {
		case v.IsError() && (strings.Contains(msg, "Invalid number of arguments") || strings.Contains(msg, "'command|getkeys'")):
			if c != nil && !newerArity[c.Name] {
				t.Errorf("%q: the server finds the arity wrong, Check does not", inv)
			}
			continue
		case c == nil:
			t.Errorf("%q: Check refuses it (%s), the server's GETKEYS does not (%s)", inv, refusal.Str, v)
			continue
		}
		var want []string
		if !v.IsError() {
			for _, e := range v.Elems {
				want = append(want, string(e.Str))
			}
		} else if !strings.Contains(msg, "Invalid arguments") && !strings.Contains(msg, "no key arguments") {
			t.Errorf("%q: COMMAND GETKEYS: %s", inv, msg)
			continue
		}
		var got []string
		for _, k := range c.Keys(args, nil) {
			got = append(got, inv[k])
		}
		compared++
		if slices.Equal(got, want) {
			continue
		}
		if ownParsers[c.Name] {
			disputed = append(disputed, inv)
			continue
		}
		t.Errorf("keys of %q: model %q, COMMAND GETKEYS %q", inv, got, want)
	}
	if compared < 3000 {
		t.Errorf("only %d invocations compared", compared)
	}
	t.Logf("%d invocations of %d commands compared; %d settled by running them", compared, commands, len(disputed))
	// The cases written to tell the command's reading from Redis's lookup, every time.
	for _, tc := range keyCases {
		if tc.redisDiffers {
			disputed = append(disputed, tc.args)
		}
	}
	settle(t, srv.Addr(), disputed)
}

// settle runs each invocation, on a database of its own, after storing data under
// every argument that could be a key, and checks that the keys it modified and the
// streams it read are among those Keys finds.
func settle(t *testing.T, addr string, invs [][]string) {
	t.Helper()
	w := cmdgen.Watch(t, addr)
	cl := proxytest.Dial(t, addr)
	cl.Do("SELECT", "5")
	for _, inv := range invs {
		cl.Do("FLUSHDB")
		args := argsOf(inv)
		c, _ := LookupArgs(args)
		prepare(t, cl, c.Name, inv)
		w.Touched() // the setup
		v := cl.Do(inv...)
		found := map[string]bool{}
		for _, k := range c.Keys(args, nil) {
			found["5:"+inv[k]] = true
		}
		for _, k := range w.Touched() {
			if !found[k] {
				t.Errorf("%q modified %s, which Keys does not find (it finds %v); reply %s", inv, k, c.Keys(args, nil), v)
			}
		}
		if c.ReplyKeys == ReplyStreams && v.Type == resp.TypeArray {
			for _, e := range v.Elems {
				if len(e.Elems) > 0 && !found["5:"+string(e.Elems[0].Str)] {
					t.Errorf("%q read stream %q, which Keys does not find", inv, e.Elems[0].Str)
				}
			}
		}
	}
}

// prepare stores what the invocation of name could read: a list under its first
// argument for SORT, a geo member for GEORADIUS, a stream (with the group the
// invocation names) under every argument for XREAD and XREADGROUP.
func prepare(t *testing.T, cl *proxytest.Client, name string, inv []string) {
	t.Helper()
	if len(inv) < 2 {
		return
	}
	switch name {
	case "sort":
		cl.Do("RPUSH", inv[1], "3", "1", "2")
	case "georadius", "georadiusbymember":
		cl.Do("GEOADD", inv[1], "0", "0", "m")
	case "xread", "xreadgroup":
		group := ""
		for i := 1; i+1 < len(inv); i++ {
			if strings.EqualFold(inv[i], "group") {
				group = inv[i+1]
				break
			}
		}
		for _, a := range inv[1:] {
			cl.Do("XADD", a, "*", "f", "v")
			if group != "" {
				cl.Do("XGROUP", "CREATE", a, group, "0")
			}
		}
	}
}
