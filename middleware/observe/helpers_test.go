package observe_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// newMeter returns an SDK meter provider whose metrics the test reads with collect.
func newMeter(t testing.TB) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, reader
}

// newTracer returns an SDK tracer provider that keeps its ended spans in memory.
func newTracer(t testing.TB) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// collect returns every metric of reader by name.
func collect(t testing.TB, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// series is one data point of a metric, keyed by its attributes.
type series struct {
	count uint64 // histograms: observations
	value int64  // sums: the value
}

// points returns the data points of metric name, keyed by their attributes as written
// by attrKey. A missing metric has no points.
func points(t testing.TB, ms map[string]metricdata.Metrics, name string) map[string]series {
	t.Helper()
	out := map[string]series{}
	m, ok := ms[name]
	if !ok {
		return out
	}
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out[attrKey(p.Attributes)] = series{count: p.Count}
		}
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out[attrKey(p.Attributes)] = series{value: p.Value}
		}
	default:
		t.Fatalf("metric %s has data of type %T", name, m.Data)
	}
	return out
}

// attrKey writes a set as "k=v k=v", sorted by key.
func attrKey(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, fmt.Sprintf("%s=%s", kv.Key, kv.Value.String()))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// opKey is the attribute key of one command's duration series.
func opKey(name, errType string) string {
	k := "db.operation.name=" + name + " db.system.name=redis"
	if errType != "" {
		k = "db.operation.name=" + name + " db.system.name=redis error.type=" + errType
	}
	return k
}

// terminal answers the commands of the tests, at once or later from another goroutine:
//
//	get, fail, wrong, panic at once: a bulk, -ERR ..., -WRONGTYPE ..., a panic
//	aset, anoauth later: +OK, -NOAUTH ...
//	slow after slowDelay: +OK
//	anything else at once: +OK
func terminal(slowDelay time.Duration) proxy.Handler {
	return proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		switch string(req.Name()) {
		case "get":
			w.WriteReply(resp.BulkString("v"))
		case "fail":
			w.WriteReply(resp.Raw([]byte("-ERR unknown command 'fail', with args beginning with: 'secret'\r\n")))
		case "wrong":
			w.WriteReply(resp.Error("WRONGTYPE", "Operation against a key holding the wrong kind of value"))
		case "panic":
			panic("boom")
		case "aset":
			go w.WriteReply(resp.OK)
		case "anoauth":
			go w.WriteReply(resp.Error("NOAUTH", "Authentication required."))
		case "slow":
			time.AfterFunc(slowDelay, func() { w.WriteReply(resp.OK) })
		default:
			w.WriteReply(resp.OK)
		}
	})
}
