package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
)

func TestNamespace(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	at, _ := clitest.Start(t, run, "-upstream", srv.Addr(), "-prefix", "tenant1:", "-deny", "FLUSHALL, FLUSHDB",
		"-rename", "CONFIG=,INFO2=INFO")
	addr := at.String()
	c := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2, DisableIndentity: true})
	defer c.Close()
	ctx := context.Background()
	if err := c.MSet(ctx, "a", "1", "b", "2").Err(); err != nil {
		t.Fatal(err)
	}
	keys := c.Keys(ctx, "*").Val()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("KEYS * = %q", keys)
	}
	if v := srv.Client().Get(ctx, "tenant1:a").Val(); v != "1" {
		t.Errorf("the server has tenant1:a = %q, want 1", v)
	}
	raw := proxytest.Dial(t, addr)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"FLUSHALL"}, "ERR command 'flushall' is denied by the proxy"},
		{[]string{"flushdb"}, "ERR command 'flushdb' is denied by the proxy"},
		{[]string{"CONFIG", "GET", "x"}, "ERR unknown command 'CONFIG', with args beginning with: 'GET' 'x' "},
		{[]string{"DBSIZE"}, "ERR command 'dbsize' is not allowed in a key namespace"},
	} {
		if v := raw.Do(tc.args...); string(v.Str) != tc.want {
			t.Errorf("%q: %v, want %q", tc.args, v, tc.want)
		}
	}
	if v := raw.Do("INFO2", "server"); !strings.Contains(string(v.Str), "redis_version") {
		t.Errorf("INFO2 (renamed INFO): %v", v)
	}
}

func TestEmbedded(t *testing.T) {
	t.Parallel()
	at, _ := clitest.Start(t, run, "-prefix", "p:")
	addr := at.String()
	c := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2, DisableIndentity: true})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("GET = %q, %v", v, err)
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-rename", "NOEQUALS"}, {"-rename", "=X"}, {"-nope"}} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("run(%q) succeeded, want an error", args)
		}
	}
}
