package observe

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// ScopeName is the instrumentation scope of the meters and tracers this package uses.
const ScopeName = "github.com/redchain/redchain/middleware/observe"

// durationBuckets are the explicit bucket boundaries, in seconds, of the
// db.client.operation.duration histogram: the ones the semantic conventions recommend.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// Config configures an Observe. The zero value records metrics to the global meter
// provider and nothing else.
type Config struct {
	// MeterProvider receives the db.client.operation.duration histogram. Default:
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider receives the spans, when Spans is set. Default: otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Spans starts a span per command (kind server, named after the command). Off by
	// default: a span costs a few allocations per command.
	Spans bool
	// SlowThreshold, when positive, logs every command that took longer, through Logger at
	// SlowLevel. Zero turns the slow log off; negative is an error.
	SlowThreshold time.Duration
	// SlowLevel is the level of slow-log lines, hclog.Trace to hclog.Error. Default
	// (hclog.NoLevel): hclog.Warn.
	SlowLevel hclog.Level
	// Logger receives the slow log. Default: hclog.NewNullLogger().
	Logger hclog.Logger
}

// Observe is the middleware. It is safe for concurrent use by every connection and every
// event loop of a server; see the package doc.
type Observe struct {
	duration metric.Float64Histogram
	tracer   trace.Tracer
	spans    bool
	slow     time.Duration
	level    hclog.Level
	log      hclog.Logger
	names    *names
}

var _ proxy.Middleware = (*Observe)(nil)

// New returns the middleware for cfg, after checking it: a negative SlowThreshold or a
// SlowLevel outside hclog.Trace..hclog.Error is an error, as is a meter provider that
// refuses the histogram.
func New(cfg Config) (*Observe, error) {
	if cfg.SlowThreshold < 0 {
		return nil, fmt.Errorf("observe: SlowThreshold %v is negative", cfg.SlowThreshold)
	}
	if cfg.SlowLevel == hclog.NoLevel {
		cfg.SlowLevel = hclog.Warn
	}
	if cfg.SlowLevel < hclog.Trace || cfg.SlowLevel > hclog.Error {
		return nil, fmt.Errorf("observe: SlowLevel %v is not a level from Trace to Error", cfg.SlowLevel)
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	meter := cfg.MeterProvider.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	h, err := meter.Float64Histogram("db.client.operation.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of Redis commands through the proxy, from when they enter the chain to when their reply is written."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	return &Observe{
		duration: h,
		tracer:   cfg.TracerProvider.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		spans:    cfg.Spans,
		slow:     cfg.SlowThreshold,
		level:    cfg.SlowLevel,
		log:      cfg.Logger,
		names:    newNames(),
	}, nil
}

// ServeRESP measures the command and passes it to next. When there is nothing to record
// it passes the command on untouched; otherwise it gives next a reply writer that records
// when the reply is written. Safe for concurrent use; runs on the connection's loop.
func (o *Observe) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	metrics := o.duration.Enabled(ctx)
	if !metrics && !o.spans && o.slow == 0 {
		next.ServeRESP(ctx, w, req)
		return
	}
	start := time.Now()
	// The request is reused once its reply is written: take what the writer needs now.
	rw := &writer{o: o, w: w, op: o.names.ops.get(req.Name()), conn: req.Conn(), metrics: metrics, start: start}
	if o.spans {
		ctx, rw.span = o.tracer.Start(ctx, rw.op.name, rw.op.start...)
	}
	rw.ctx = ctx
	defer func() {
		if r := recover(); r != nil {
			// The proxy answers a panic with this error; record it, then let the proxy
			// handle the panic as if observe were not there.
			rw.finish(proxy.InternalError)
			panic(r)
		}
	}()
	next.ServeRESP(ctx, rw, req)
}

// writer is the reply writer of one measured command. It is never pooled or recycled, so
// that a late or second reply through it can only reach its own command's writer.
type writer struct {
	o       *Observe
	w       proxy.ReplyWriter
	ctx     context.Context
	op      *op
	conn    *proxy.Conn // nil for a request made by proxy.NewRequest
	span    trace.Span  // nil without spans
	start   time.Time
	metrics bool
	done    atomic.Bool
}

// WriteReply records the command's end, once, then forwards v. Any goroutine.
func (rw *writer) WriteReply(v resp.Value) bool {
	rw.finish(v)
	return rw.w.WriteReply(v)
}

// finish records the command with its reply v, the first time only.
func (rw *writer) finish(v resp.Value) {
	if rw.done.Swap(true) {
		return
	}
	d := time.Since(rw.start)
	var e *opError
	var text []byte
	if v.IsError() {
		text = errorText(v)
		e = rw.op.errorOf(rw.o.names.codes.get(errorCode(text)))
	}
	if rw.metrics {
		opts := rw.op.record
		if e != nil {
			opts = e.record
		}
		rw.o.duration.Record(rw.ctx, d.Seconds(), opts...)
	}
	if rw.span != nil {
		if e != nil {
			rw.span.SetAttributes(semconv.ErrorTypeKey.String(e.code))
			rw.span.SetStatus(codes.Error, statusText(text))
		}
		rw.span.End()
	}
	if rw.o.slow > 0 && d > rw.o.slow {
		rw.logSlow(d)
	}
}

func (rw *writer) logSlow(d time.Duration) {
	var id uint64
	remote := ""
	if rw.conn != nil {
		id = rw.conn.ID()
		if a := rw.conn.RemoteAddr(); a != nil {
			remote = a.String()
		}
	}
	rw.o.log.Log(rw.o.level, "slow command", "command", rw.op.name, "duration", d, "conn", id, "remote", remote)
}

// errorText returns the text of an error reply, raw or not, without its framing.
func errorText(v resp.Value) []byte {
	b := v.Str
	if v.Raw != nil {
		b = v.Raw
		switch v.Type {
		case resp.TypeError: // -CODE message\r\n
			b = b[1:]
		case resp.TypeBulkError: // !<length>\r\nCODE message\r\n
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				b = b[i+1:]
			}
		}
		if i := bytes.IndexByte(b, '\r'); i >= 0 {
			b = b[:i]
		}
	}
	return b
}

// errorCode returns the code of an error text: its first word.
func errorCode(text []byte) []byte {
	if i := bytes.IndexByte(text, ' '); i >= 0 {
		return text[:i]
	}
	return text
}

// maxStatusText bounds the error text put on a span.
const maxStatusText = 256

// statusText returns the part of an error text that may go on a span: up to its first
// quote, since Redis quotes client input in its messages ("ERR unknown command 'x', with
// args beginning with: 'k'"), and arguments are never recorded.
func statusText(text []byte) string {
	if i := bytes.IndexByte(text, '\''); i >= 0 {
		text = bytes.TrimRight(text[:i], " ,:")
	}
	if len(text) > maxStatusText {
		text = text[:maxStatusText]
	}
	return string(text)
}
