package router_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redchain/redchain/backend"
	redisbackend "github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/backend/shard"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// getProxy starts a real redis-server holding k = "value" and a proxy of one event loop
// in front of it, through the router and the Redis backend, and returns the proxy's
// address.
func getProxy(tb testing.TB) string {
	s := redistest.Start(tb)
	if err := s.Client().Set(tb.Context(), "k", "value", 0).Err(); err != nil {
		tb.Fatal(err)
	}
	be, err := redisbackend.New(redisbackend.Config{Addr: s.Addr()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { be.Close() })
	return proxytest.NewServer(tb, router.New(be), proxy.WithEventLoops(1)).Addr()
}

// benchmarkProxy sends pipelines of depth GETs through getProxy's proxy, from a raw
// client that allocates nothing, and reads the replies: the allocations reported are the
// proxy's and the backend's, per command.
func benchmarkProxy(b *testing.B, depth int) {
	addr := getProxy(b)
	req := bytes.Repeat([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), depth)
	proxytest.Pipeline(b, addr, req, depth, depth*len("$5\r\nvalue\r\n"))
}

func BenchmarkProxyGET(b *testing.B)           { benchmarkProxy(b, 1) }
func BenchmarkProxyGETPipeline16(b *testing.B) { benchmarkProxy(b, 16) }

// BenchmarkProxyGETShard is BenchmarkProxyGET through a shard set of one server
// (backend/shard), without the fan-out and with it: what the fan-out costs a command it
// leaves whole, on a client's session.
func BenchmarkProxyGETShard(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []router.Option
	}{{"plain", nil}, {"fanout", []router.Option{router.WithFanout(router.FanoutConfig{})}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := redistest.Start(b)
			if err := s.Client().Set(b.Context(), "k", "value", 0).Err(); err != nil {
				b.Fatal(err)
			}
			be, err := shard.New(shard.Config{Servers: []shard.Server{{Addr: s.Addr()}}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { be.Close() })
			srv := proxytest.NewServer(b, router.New(be, bc.opts...), proxy.WithEventLoops(1))
			req := []byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
			proxytest.Pipeline(b, srv.Addr(), req, 1, len("$5\r\nvalue\r\n"))
		})
	}
}

// nopWriter takes a reply and drops it.
type nopWriter struct{}

func (nopWriter) WriteReply(resp.Value) bool { return true }

// BenchmarkRoute measures the router's own work for one command: deciding where it
// goes and handing it to a backend that answers at once.
func BenchmarkRoute(b *testing.B) {
	be := backend.Func(func(_ context.Context, _ resp.Command, done func(resp.Value, error)) { done(resp.OK, nil) })
	f := router.New(be)
	req := proxy.NewRequest(resp.NewCommand("GET", "k"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.ServeRESP(ctx, nopWriter{}, req)
	}
}

// okShards is a sharded backend of three shards that answers +OK at once.
type okShards struct{}

func (okShards) Shards() int { return 3 }
func (okShards) Locate(key []byte) (group, shard int) {
	s := int(command.Slot(key))
	return s, s % 3
}
func (okShards) Send(_ context.Context, _ resp.Command, done func(resp.Value, error)) {
	done(resp.OK, nil)
}
func (okShards) SendShard(_ context.Context, _ int, _ resp.Command, done func(resp.Value, error)) {
	done(resp.OK, nil)
}
func (okShards) Close() error { return nil }

// BenchmarkRouteFanout is BenchmarkRoute over a sharded backend, without the fan-out
// and with it: what the fan-out costs a command it leaves whole.
func BenchmarkRouteFanout(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []router.Option
	}{{"off", nil}, {"on", []router.Option{router.WithFanout(router.FanoutConfig{})}}} {
		b.Run(bc.name, func(b *testing.B) {
			f := router.New(okShards{}, bc.opts...)
			req := proxy.NewRequest(resp.NewCommand("GET", "k"))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				f.ServeRESP(ctx, nopWriter{}, req)
			}
		})
	}
}

// BenchmarkFirstSubscribe measures how long a new client's first SUBSCRIBE takes through
// the proxy (connect, SUBSCRIBE, confirmation), with dedicated connections dialled
// ahead (the default) and without, and, for comparison, a new client's first PING on
// the shared connection: p50 and p99 in µs.
func BenchmarkFirstSubscribe(b *testing.B) {
	for _, bc := range []struct {
		name string
		warm int
		cmd  []string
	}{{"warm", 0, []string{"SUBSCRIBE", "first"}}, {"cold", -1, []string{"SUBSCRIBE", "first"}}, {"ping", 0, []string{"PING", "x"}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := redistest.Start(b)
			be, err := redisbackend.New(redisbackend.Config{Addr: s.Addr(), WarmIdle: bc.warm})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { be.Close() })
			srv := proxytest.NewServer(b, router.New(be), proxy.WithEventLoops(1))
			proxytest.Dial(b, srv.Addr()).Do("PING") // the loop's shared connection
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				c := proxytest.Dial(b, srv.Addr())
				if v := c.Do(bc.cmd...); v.IsError() {
					b.Fatalf("%q = %v", bc.cmd, v)
				}
				took = append(took, time.Since(start))
				c.Conn().Close()
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
