package observe_test

import (
	"context"
	"fmt"
	"log"
	"slices"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/redchain/redchain/middleware/observe"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// Observe first in the chain, recording to an SDK meter provider. A real proxy gives the
// provider a Prometheus or OTLP exporter (see examples/basic); here a manual reader
// collects what three commands recorded.
func Example() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	obs, err := observe.New(observe.Config{MeterProvider: mp})
	if err != nil {
		log.Fatal(err)
	}
	// A terminal handler standing in for router.New(backend).
	terminal := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if req.Is("lpush") {
			w.WriteReply(resp.Error("WRONGTYPE", "Operation against a key holding the wrong kind of value"))
			return
		}
		w.WriteReply(resp.NullBulk)
	})
	h := proxy.Chain(terminal, obs)
	for _, cmd := range [][]string{{"GET", "a"}, {"GET", "b"}, {"LPUSH", "a", "x"}} {
		h.ServeRESP(context.Background(), &proxytest.Recorder{}, proxy.NewRequest(resp.NewCommand(cmd...)))
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Println(m.Name, m.Unit)
			var lines []string
			for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				name, _ := p.Attributes.Value("db.operation.name")
				line := fmt.Sprintf("  db.operation.name=%s", name.AsString())
				if code, ok := p.Attributes.Value("error.type"); ok {
					line += " error.type=" + code.AsString()
				}
				lines = append(lines, fmt.Sprintf("%s: %d", line, p.Count))
			}
			slices.Sort(lines)
			for _, l := range lines {
				fmt.Println(l)
			}
		}
	}
	// Output:
	// db.client.operation.duration s
	//   db.operation.name=get: 2
	//   db.operation.name=lpush error.type=WRONGTYPE: 1
}
