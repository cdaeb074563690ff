package router_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/router"
)

// TestBusyEveryShard: while a keyless script runs long on the first server of a shard
// set, a command for a key of another server is refused -BUSY, as one Redis would
// refuse it, in a transaction too (EXEC then aborts, and nothing of it runs); SCRIPT
// KILL is allowed, and once the script is killed the commands run again.
func TestBusyEveryShard(t *testing.T) {
	t.Parallel()
	b, servers := startShards(t, 3)
	srv := proxytest.NewServer(t, router.New(b, router.WithFanout(router.FanoutConfig{})))
	var key string
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("k%d", i); b.ServerFor([]byte(k)) == servers[2].Addr() {
			key = k
		}
	}
	c := proxytest.Dial(t, srv.Addr())
	if v := c.Do("CONFIG", "SET", "lua-time-limit", "10"); v.IsError() {
		t.Fatal(reply(v))
	}
	c.Do("SET", key, "1")
	tx := proxytest.Dial(t, srv.Addr())
	tx.Send([]string{"MULTI"}, []string{"INCR", key}) // queued before the script runs

	script := proxytest.Dial(t, srv.Addr())
	script.Send([]string{"EVAL", "while true do end", "0"})
	eventually(t, "GET of another server's key refused -BUSY", func() (bool, string) {
		v := c.Do("GET", key)
		return strings.HasPrefix(string(v.Str), "BUSY Redis is busy running a script"), reply(v)
	})
	for _, want := range []string{"+OK", "+QUEUED"} {
		if got := reply(tx.Read()); got != want+"\r\n" {
			t.Fatalf("MULTI, INCR before the script: %q, want %s", got, want)
		}
	}
	for _, step := range []struct{ cmd, want string }{
		{"INCR " + key, "-BUSY Redis is busy"},
		{"EXEC", "-EXECABORT Transaction discarded because of: BUSY Redis is busy"},
		{"PING", "-BUSY"},
		{"MULTI", "+OK"}, // allowed while busy, as in Redis
		{"DISCARD", "+OK"},
	} {
		if got := reply(tx.Do(strings.Fields(step.cmd)...)); !strings.HasPrefix(got, step.want) {
			t.Errorf("%s while busy: %q, want %q", step.cmd, got, step.want)
		}
	}
	if v := c.Do("SCRIPT", "KILL"); v.IsError() {
		t.Fatalf("SCRIPT KILL: %s", reply(v))
	}
	if got := reply(script.Read()); !strings.Contains(got, "killed") {
		t.Errorf("the script's reply: %q, want it killed", got)
	}
	if got := reply(c.Do("GET", key)); got != "$1\r\n1\r\n" {
		t.Errorf("GET after the script was killed: %q, want 1 (the transaction did not run)", got)
	}
}
