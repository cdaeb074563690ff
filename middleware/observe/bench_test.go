package observe_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/middleware/observe"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// benchChain is observe in front of a terminal handler that answers +OK at once.
func benchChain(b *testing.B, cfg observe.Config) proxy.Handler {
	obs, err := observe.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return proxy.Chain(proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
		w.WriteReply(resp.OK)
	}), obs)
}

func runBench(b *testing.B, h proxy.Handler) {
	ctx := context.Background()
	req := proxy.NewRequest(resp.NewCommand("GET", "key"))
	b.ReportAllocs()
	for b.Loop() {
		h.ServeRESP(ctx, discard{}, req)
	}
}

// BenchmarkObserveDisabled: the global meter provider with no SDK behind it, no spans, no
// slow log. Must be 0 allocs/op.
func BenchmarkObserveDisabled(b *testing.B) {
	runBench(b, benchChain(b, observe.Config{}))
}

// BenchmarkObserveMetrics: an SDK meter provider with a manual reader.
func BenchmarkObserveMetrics(b *testing.B) {
	mp, _ := newMeter(b)
	runBench(b, benchChain(b, observe.Config{MeterProvider: mp}))
}

// BenchmarkObserveMetricsParallel: the same, from every CPU at once, as a server's event
// loops do.
func BenchmarkObserveMetricsParallel(b *testing.B) {
	mp, _ := newMeter(b)
	h := benchChain(b, observe.Config{MeterProvider: mp})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := proxy.NewRequest(resp.NewCommand("GET", "key"))
		for pb.Next() {
			h.ServeRESP(ctx, discard{}, req)
		}
	})
}

// BenchmarkObserveSlowLog: only the slow log, with commands below the threshold.
func BenchmarkObserveSlowLog(b *testing.B) {
	runBench(b, benchChain(b, observe.Config{SlowThreshold: time.Second, Logger: hclog.NewNullLogger()}))
}

// BenchmarkObserveSpans: metrics and spans, with SDK providers.
func BenchmarkObserveSpans(b *testing.B) {
	mp, _ := newMeter(b)
	tp, _ := newTracer(b)
	runBench(b, benchChain(b, observe.Config{MeterProvider: mp, TracerProvider: tp, Spans: true}))
}
