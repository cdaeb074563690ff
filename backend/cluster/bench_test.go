package cluster_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/cluster"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

// BenchmarkSendEndToEnd sends GETs through a cluster backend to a real cluster, 64 in
// flight, next to the same through a backend/redis to the node that serves the key:
// the difference is the cost of the cluster layer, network included.
func BenchmarkSendEndToEnd(b *testing.B) {
	c := redistest.StartCluster(b, redistest.Replicas(0))
	key := "user:1000"
	cb := newBackend(b, cluster.Config{Seeds: c.Seeds()})
	rb, err := redis.New(redis.Config{Addr: c.PrimaryOf(int(command.Slot([]byte(key)))).Addr()})
	if err != nil {
		b.Fatal(err)
	}
	defer rb.Close()
	for _, bc := range []struct {
		name string
		be   backend.Backend
	}{{"cluster", cb}, {"redis", rb}} {
		b.Run(bc.name, func(b *testing.B) {
			cmd := resp.NewCommand("GET", key)
			ctx := backend.WithSession(context.Background(), 1)
			window := make(chan struct{}, 64)
			var failed atomic.Bool
			done := func(v resp.Value, err error) {
				if err != nil || v.IsError() {
					failed.Store(true)
				}
				<-window
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				window <- struct{}{}
				bc.be.Send(ctx, cmd, done)
			}
			for range cap(window) {
				window <- struct{}{}
			}
			b.StopTimer()
			if failed.Load() {
				b.Fatal("a GET failed")
			}
		})
	}
}

// BenchmarkProxyGET sends pipelines of 16 GETs through a proxy in front of a real
// cluster, from a raw client that allocates nothing, next to the same proxy in front of
// a backend/redis to the node that serves the key: the allocations reported are the
// proxy's and the backend's, per command.
func BenchmarkProxyGET(b *testing.B) {
	const depth = 16
	c := redistest.StartCluster(b, redistest.Replicas(0))
	if err := c.Client().Set(b.Context(), "k", "value", 0).Err(); err != nil {
		b.Fatal(err)
	}
	cb := newBackend(b, cluster.Config{Seeds: c.Seeds()})
	rb, err := redis.New(redis.Config{Addr: c.PrimaryOf(int(command.Slot([]byte("k")))).Addr()})
	if err != nil {
		b.Fatal(err)
	}
	defer rb.Close()
	req := bytes.Repeat([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), depth)
	for _, bc := range []struct {
		name string
		be   backend.Backend
	}{{"cluster", cb}, {"redis", rb}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := proxytest.NewServer(b, router.New(bc.be), proxy.WithEventLoops(1))
			proxytest.Pipeline(b, srv.Addr(), req, depth, depth*len("$5\r\nvalue\r\n"))
		})
	}
}
