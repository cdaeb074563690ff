package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/redistest"
)

func client(t *testing.T, addr string) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2, DisableIndentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// keys returns n test keys and their values for MSET. Keys that differ only in their
// last bytes hash close together (FNV-1a), so they are spread with a multiplicative
// hash of i.
func keys(n int) (ks []string, kv []any) {
	for i := range n {
		k := fmt.Sprintf("user:%08x", uint32(i)*2654435761)
		ks = append(ks, k)
		kv = append(kv, k, i)
	}
	return ks, kv
}

func TestEmbeddedDefault(t *testing.T) {
	t.Parallel()
	at, logs := clitest.Start(t, run)
	p := client(t, at.String())
	ctx := context.Background()
	ks, kv := keys(30)
	if err := p.MSet(ctx, kv...).Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	if got, err := p.MGet(ctx, ks[29], ks[0]).Result(); err != nil || fmt.Sprint(got) != "[29 0]" {
		t.Fatalf("MGET = %v, %v", got, err)
	}
	if n, err := p.DBSize(ctx).Result(); err != nil || n != 30 {
		t.Fatalf("DBSIZE = %d, %v; want 30", n, err)
	}
	for _, want := range []string{"embedded", "shards=3", "listening"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
}

func TestShards(t *testing.T) {
	t.Parallel()
	var servers []*redistest.Server
	var addrs []string
	for i := range 3 {
		s := redistest.Start(t)
		servers = append(servers, s)
		addrs = append(addrs, fmt.Sprintf("redis%d=%s", i+1, s.Addr()))
	}
	ctx := context.Background()
	ks, kv := keys(300)

	t.Run("spread", func(t *testing.T) {
		at, logs := clitest.Start(t, run, "-shards", strings.Join(addrs, ","))
		p := client(t, at.String())
		if err := p.MSet(ctx, kv...).Err(); err != nil {
			t.Fatalf("MSET: %v", err)
		}
		total := int64(0)
		for _, s := range servers {
			n, err := s.Client().DBSize(ctx).Result()
			if err != nil || n == 0 {
				t.Errorf("%s holds %d keys (%v): want a share", s.Addr(), n, err)
			}
			total += n
		}
		if total != 300 {
			t.Errorf("the servers hold %d keys, want 300", total)
		}
		got, err := p.Keys(ctx, "user:*").Result()
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(ks)); err != nil || !slices.Equal(got, want) {
			t.Errorf("KEYS = %q, %v; want every key", got, err)
		}
		if n, err := p.Del(ctx, ks...).Result(); err != nil || n != 300 {
			t.Errorf("DEL = %d, %v", n, err)
		}
		if !strings.Contains(logs.String(), "learned the upstream's commands") {
			t.Errorf("the log does not say what was learned:\n%s", logs)
		}
	})
	t.Run("max-shards", func(t *testing.T) {
		at, _ := clitest.Start(t, run, "-shards", strings.Join(addrs, ","), "-max-shards", "2", "-learn=false")
		p := client(t, at.String())
		err := p.Keys(ctx, "*").Err()
		if err == nil || err.Error() != "ERR redchain: KEYS spans 3 shards, more than max-shards 2" {
			t.Errorf("KEYS with -max-shards 2: %v", err)
		}
		if err := p.MGet(ctx, ks...).Err(); err == nil || !strings.Contains(err.Error(), "more than max-shards 2") {
			t.Errorf("MGET of keys on 3 servers with -max-shards 2: %v", err)
		}
		if err := p.Set(ctx, "a", 1, 0).Err(); err != nil {
			t.Errorf("SET: %v", err)
		}
	})
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"-upstream", "127.0.0.1:2"}, "-upstream is not used"},
		{[]string{"-shards", "nohost"}, "nohost"},
		{[]string{"-shards", "127.0.0.1:1,127.0.0.1:1"}, "used twice"},
		{[]string{"-max-shards", "-1"}, "-max-shards"},
	} {
		err := run(context.Background(), append([]string{"-listen", "127.0.0.1:0"}, tc.args...), io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.err)
		}
	}
	_, o, err := parse([]string{"-shards", " a=h:1 , h:2 ,", "-max-shards", "4"}, io.Discard)
	if err != nil || len(o.servers) != 2 || o.servers[0].Name != "a" || o.servers[0].Addr != "h:1" ||
		o.servers[1].Name != "" || o.servers[1].Addr != "h:2" || o.maxShards != 4 {
		t.Errorf("parse: %+v, %v", o, err)
	}
}
