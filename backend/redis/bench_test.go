package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
)

// BenchmarkSend measures PING round trips against a real redis-server, from parallel
// sessions that each wait for their reply before sending again: the batching of many
// clients' commands into one write is what keeps the cost per command low.
func BenchmarkSend(b *testing.B) {
	s := redistest.Start(b)
	be := newBackend(b, redis.Config{Addr: s.Addr(), Logger: hclog.NewNullLogger()})
	cmd := resp.NewCommand("PING")
	var ids atomic.Uint64
	b.SetParallelism(16) // clients per CPU
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := session(ids.Add(1))
		ch := make(chan error, 1)
		done := func(_ resp.Value, err error) { ch <- err }
		for pb.Next() {
			be.Send(ctx, cmd, done)
			if err := <-ch; err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSendPipeline measures one session that pipelines windows of 128 commands.
func BenchmarkSendPipeline(b *testing.B) {
	benchPipeline(b, session(1))
}

// BenchmarkSendPipelineLoop is BenchmarkSendPipeline on an event loop (loop mode).
func BenchmarkSendPipelineLoop(b *testing.B) {
	benchPipeline(b, loopCtx(b))
}

// benchPipeline sends windows of 128 PINGs with ctx, each window once the one before is
// answered.
func benchPipeline(b *testing.B, ctx context.Context) {
	const window = 128
	s := redistest.Start(b)
	be := newBackend(b, redis.Config{Addr: s.Addr(), Logger: hclog.NewNullLogger()})
	cmd := resp.NewCommand("PING")
	eventually(b, be, ctx)
	var wg sync.WaitGroup
	done := func(_ resp.Value, err error) {
		if err != nil {
			b.Error(err)
		}
		wg.Done()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += window {
		n := min(window, b.N-i)
		wg.Add(n)
		for range n {
			be.Send(ctx, cmd, done)
		}
		wg.Wait()
	}
}
