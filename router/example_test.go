package router_test

import (
	"context"
	"fmt"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

func ExampleNew() {
	// A backend that answers by itself; backend/redis would send to a server.
	b := backend.Func(func(_ context.Context, cmd resp.Command, done func(resp.Value, error)) {
		done(resp.BulkString("backend got "+cmd.String()), nil)
	})
	h := router.New(b)

	var rec proxytest.Recorder
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("GET", "k")))
	// The proxy's own commands are answered by the router; those a shared server
	// connection must not carry, refused or given a connection of their own.
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("CLUSTER", "INFO")))
	h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("SHUTDOWN")))
	for _, v := range rec.Replies() {
		fmt.Println(v)
	}
	// Output:
	// "$21\r\nbackend got \"GET\" \"k\"\r\n"
	// "-ERR This instance has cluster support disabled\r\n"
	// "-ERR command 'shutdown' is not allowed through the proxy\r\n"
}

// twoShards stands in for a sharded backend (backend/shard, backend/cluster): keys
// starting with a-m live on shard 0, the others on shard 1. Each shard answers MGET
// with "key@shard" for every key, and DBSIZE with 10.
type twoShards struct{}

func (twoShards) Shards() int { return 2 }
func (twoShards) Locate(key []byte) (group, shard int) {
	if key[0] <= 'm' {
		return 0, 0
	}
	return 1, 1
}
func (s twoShards) Send(ctx context.Context, cmd resp.Command, done func(resp.Value, error)) {
	_, shard := s.Locate(cmd.Args[1])
	s.SendShard(ctx, shard, cmd, done)
}
func (twoShards) SendShard(_ context.Context, i int, cmd resp.Command, done func(resp.Value, error)) {
	fmt.Printf("shard %d: %s\n", i, cmd)
	if string(cmd.Args[0]) == "DBSIZE" {
		done(resp.Integer(10), nil)
		return
	}
	var vals []resp.Value
	for _, k := range cmd.Args[1:] {
		vals = append(vals, resp.BulkString(fmt.Sprintf("%s@%d", k, i)))
	}
	done(resp.Array(vals...), nil)
}
func (twoShards) Close() error { return nil }

var _ backend.Sharded = twoShards{}

func ExampleWithFanout() {
	b := twoShards{}
	h := router.New(b, router.WithFanout(router.FanoutConfig{MaxShards: 8}))
	for _, cmd := range [][]string{
		{"MGET", "apple", "zebra", "banana"},
		{"DBSIZE"},
		{"MSETNX", "apple", "1", "zebra", "2"},
	} {
		var rec proxytest.Recorder
		h.ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand(cmd...)))
		fmt.Println("reply:", rec.Replies()[0])
	}
	// Output:
	// shard 0: "MGET" "apple" "banana"
	// shard 1: "MGET" "zebra"
	// reply: "*3\r\n$7\r\napple@0\r\n$7\r\nzebra@1\r\n$8\r\nbanana@0\r\n"
	// shard 0: "DBSIZE"
	// shard 1: "DBSIZE"
	// reply: ":20\r\n"
	// reply: "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
}
