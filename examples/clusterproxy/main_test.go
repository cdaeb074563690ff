package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/internal/redistest"
)

func TestClusterProxy(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	seeds := c.Seeds()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"primary", []string{"-cluster", strings.Join(seeds[:2], ",")}},
		{"replica", []string{"-cluster", seeds[0], "-read-from", "replica", "-allow", "127.0.0.1:*",
			"-addr-map", "10.9.9.9:7000=" + seeds[0], "-max-shards", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, logs := clitest.Start(t, run, tc.args...)
			p := goredis.NewClient(&goredis.Options{Addr: at.String(), Protocol: 2, DisableIndentity: true})
			defer p.Close()
			ctx := context.Background()
			for i := range 100 {
				k := tc.name + ":" + strconv.Itoa(i)
				if err := p.Set(ctx, k, i, 0).Err(); err != nil {
					t.Fatalf("SET %s: %v", k, err)
				}
				if v, err := c.Client().Get(ctx, k).Int(); err != nil || v != i {
					t.Fatalf("the cluster has %s = %d, %v", k, v, err)
				}
			}
			if tc.name == "primary" {
				if v, err := p.Get(ctx, "primary:7").Int(); err != nil || v != 7 {
					t.Fatalf("GET = %d, %v", v, err)
				}
			}
			// fanout splits a cross-slot MSET and MGET; MSETNX cannot be split.
			k1, k2 := redistest.KeyInSlot(0), redistest.KeyInSlot(9000)
			if err := p.MSet(ctx, k1, 1, k2, 2).Err(); err != nil {
				t.Fatalf("cross-slot MSET: %v", err)
			}
			if v, err := p.MGet(ctx, k2, k1).Result(); err != nil || fmt.Sprint(v) != "[2 1]" {
				t.Fatalf("cross-slot MGET = %v, %v", v, err)
			}
			err := p.MSetNX(ctx, k1, 1, k2, 2).Err()
			if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
				t.Fatalf("cross-slot MSETNX: %v", err)
			}
			if !strings.Contains(logs.String(), "shards=3") {
				t.Errorf("the log does not give the shards:\n%s", logs)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, "-cluster is required"},
		{[]string{"-cluster", "127.0.0.1:1", "-upstream", "127.0.0.1:2"}, "-upstream is not used"},
		{[]string{"-cluster", "127.0.0.1:1", "-addr-map", "a"}, "want FROM=TO"},
		{[]string{"-cluster", "127.0.0.1:1", "-addr-map", "a=b"}, "AddrMap"},
		{[]string{"-cluster", "127.0.0.1:1", "-allow", "host"}, "Allow"},
		{[]string{"-cluster", "127.0.0.1:1", "-read-from", "any"}, "-read-from"},
		{[]string{"-cluster", "127.0.0.1:1", "-max-shards", "-1"}, "-max-shards"},
	} {
		err := run(context.Background(), append([]string{"-listen", "127.0.0.1:0"}, tc.args...), io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.err)
		}
	}
	if _, o, err := parse([]string{"-cluster", " a:1 , b:2 ", "-addr-map", "x:1=y:1, z:2=w:2", "-allow", "y:*"}, io.Discard); err != nil ||
		len(o.seeds) != 2 || o.addrMap["z:2"] != "w:2" || o.allow[0] != "y:*" {
		t.Errorf("parse: %+v, %v", o, err)
	}
}
