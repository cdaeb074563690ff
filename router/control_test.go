package router_test

import (
	"strings"
	"testing"

	"github.com/redchain/redchain/proxy/proxytest"
)

// busy has a client of the proxy run a script that never ends, and waits until the
// server says it is busy (it answers others only once a script has run for
// busy-reply-threshold). It returns the script's client, whose reply is still to come.
func busy(t *testing.T, st *stack, cmd ...string) *proxytest.Client {
	t.Helper()
	direct := proxytest.Dial(t, st.redis.Addr())
	if v := direct.Do("CONFIG", "SET", "busy-reply-threshold", "20"); v.IsError() {
		t.Fatal(reply(v))
	}
	c := proxytest.Dial(t, st.proxy.Addr())
	c.Send(cmd)
	eventually(t, "the server busy", func() (bool, string) {
		v := direct.Do("PING")
		return strings.HasPrefix(string(v.Str), "BUSY"), reply(v)
	})
	return c
}

// TestControl checks that the commands that must not queue behind a busy script reach
// the server through the proxy: SCRIPT KILL and FUNCTION KILL stop the script, while
// the script's own shared connection waits for it (the proxy sends them on a connection
// of their own), and CLIENT UNPAUSE ends a pause that holds the proxy's shared
// connection.
func TestControl(t *testing.T) {
	st := newStack(t, nil)
	other := proxytest.Dial(t, st.proxy.Addr())

	t.Run("script kill", func(t *testing.T) {
		c := busy(t, st, "EVAL", "while true do end", "0")
		if got := reply(other.Do("SCRIPT", "KILL")); got != "+OK\r\n" {
			t.Fatalf("SCRIPT KILL = %q", got)
		}
		if v := c.Read(); !strings.Contains(string(v.Str), "killed by user") {
			t.Fatalf("the script's reply = %q", reply(v))
		}
		if got := reply(other.Do("SCRIPT", "KILL")); !strings.HasPrefix(got, "-NOTBUSY") {
			t.Fatalf("SCRIPT KILL with no script running = %q", got)
		}
	})

	t.Run("function kill", func(t *testing.T) {
		lib := "#!lua name=spin\nredis.register_function('spin', function() while true do end end)"
		if v := other.Do("FUNCTION", "LOAD", "REPLACE", lib); v.IsError() {
			t.Fatal(reply(v))
		}
		c := busy(t, st, "FCALL", "spin", "0")
		if v := other.Do("FUNCTION", "STATS"); v.IsError() || !strings.Contains(reply(v), "spin") {
			t.Errorf("FUNCTION STATS while busy = %q", reply(v))
		}
		if got := reply(other.Do("FUNCTION", "KILL")); got != "+OK\r\n" {
			t.Fatalf("FUNCTION KILL = %q", got)
		}
		if v := c.Read(); !strings.Contains(string(v.Str), "killed by user") {
			t.Fatalf("the function's reply = %q", reply(v))
		}
	})

	t.Run("client unpause", func(t *testing.T) {
		if got := reply(other.Do("CLIENT", "PAUSE", "100000", "WRITE")); got != "+OK\r\n" {
			t.Fatalf("CLIENT PAUSE = %q", got)
		}
		// The SET waits on the client's shared server connection until the pause ends;
		// an UNPAUSE behind it there would wait for ever.
		other.Send([]string{"SET", "paused", "1"}, []string{"CLIENT", "UNPAUSE"})
		if got := reply(other.Read()); got != "+OK\r\n" {
			t.Fatalf("SET during the pause = %q", got)
		}
		if got := reply(other.Read()); got != "+OK\r\n" {
			t.Fatalf("CLIENT UNPAUSE = %q", got)
		}
	})
}
