package main

import (
	"context"
	"io"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
)

// pipeline writes cmds in one write and returns their replies, each as its RESP
// encoding.
func pipeline(t *testing.T, addr string, cmds ...[]string) []string {
	t.Helper()
	c := proxytest.Dial(t, addr)
	c.Send(cmds...)
	out := make([]string, len(cmds))
	for i := range out {
		v := c.Read()
		if v.Raw != nil {
			v, _ = v.Decode()
		}
		out[i] = string(v.AppendTo(nil))
	}
	return out
}

func authSetGet(user, password string) [][]string {
	return [][]string{{"AUTH", user, password}, {"PING"}, {"SET", "k", "v"}, {"GET", "k"}}
}

// Pipelined AUTH, PING, SET, GET in one write, with a 50ms authentication service: the
// commands behind AUTH wait for it.
func TestPipelinedAuth(t *testing.T) {
	t.Parallel()
	at, logs := clitest.Start(t, run, "-auth-latency", "50ms", "-users", "alice:secret,bob:pw")
	addr := at.String()
	want := []string{"+OK\r\n", "+PONG\r\n", "+OK\r\n", "$1\r\nv\r\n"}
	if got := pipeline(t, addr, authSetGet("bob", "pw")...); strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("replies %q, want %q", got, want)
	}
	noauth := "-NOAUTH Authentication required.\r\n"
	want = []string{"-WRONGPASS invalid username-password pair or user is disabled.\r\n", noauth, noauth, noauth}
	if got := pipeline(t, addr, authSetGet("alice", "pw")...); strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("wrong password: replies %q, want %q", got, want)
	}
	for _, w := range []string{"embedded", "authentication service", "latency=50ms"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log does not say %q:\n%s", w, logs)
		}
	}
}

// A go-redis client (HELLO 2 AUTH) against a real Redis.
func TestUpstreamGoRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	at, _ := clitest.Start(t, run, "-upstream", srv.Addr(), "-auth-latency", "10ms")
	addr := at.String()
	ctx := context.Background()
	c := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2, Username: "alice", Password: "secret"})
	defer c.Close()
	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := srv.Client().Get(ctx, "a").Result(); err != nil || v != "1" {
		t.Fatalf("the real server has a=%q (%v), want 1", v, err)
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-users", "alice"},
		{"-users", "alice:"},
		{"-users", "alice:a,alice:b"},
		{"-auth-latency", "-1s"},
		{"-auth-timeout", "-1s"},
		{"-nope"},
	} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}
