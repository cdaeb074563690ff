package observe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

// Attribute keys of the server and backend instruments.
const (
	// ReplyReasonKey tells refused replies apart: "double" (the command had its reply
	// already) or "late" (the proxy had answered it itself, after its reply timeout).
	ReplyReasonKey = attribute.Key("redchain.reply.reason")
	// BackendNameKey is the name given to RegisterBackend.
	BackendNameKey = attribute.Key("redchain.backend.name")
	// ConnStateKey tells a backend's connections apart: "up" (connected) or "down".
	ConnStateKey = attribute.Key("redchain.backend.connection.state")
	// OwnCapKey tells the refusals of router.OwnConnLimits apart, by the cap reached:
	// "address", "user" or "total".
	OwnCapKey = attribute.Key("redchain.own_connections.cap")
)

// errNoStats is returned by the Register functions for a nil server or backend.
var errNoStats = errors.New("observe: nothing to observe")

// RegisterServer reports srv's Stats as metrics of mp (otel.GetMeterProvider() when nil),
// read at each collection:
//
//	redchain.server.connections      {connection}  client connections open
//	redchain.server.inflight         {command}     commands read whose replies are not written yet
//	redchain.server.pending          {command}     of those, commands waiting behind a hold
//	redchain.server.replies.refused  {reply}       counter, by redchain.reply.reason: double, late
//	redchain.server.client_memory    By            what clients hold, as the client memory budget counts it (proxy.WithMaxMemoryClients; 0 without one)
//	redchain.server.clients.evicted  {connection}  counter: clients closed because the budget was exceeded
//
// The gauges are asynchronous up-down counters, the counters asynchronous counters.
// unregister stops the reports; it is idempotent and safe from any goroutine. Register
// one server per meter provider: nothing in the attributes tells two servers apart.
func RegisterServer(mp metric.MeterProvider, srv *proxy.Server) (unregister func() error, err error) {
	if srv == nil {
		return nil, errNoStats
	}
	m := meter(mp)
	conns, err1 := m.Int64ObservableUpDownCounter("redchain.server.connections",
		metric.WithUnit("{connection}"), metric.WithDescription("Client connections open."))
	inflight, err2 := m.Int64ObservableUpDownCounter("redchain.server.inflight",
		metric.WithUnit("{command}"), metric.WithDescription("Commands read whose replies have not been written yet."))
	pending, err3 := m.Int64ObservableUpDownCounter("redchain.server.pending",
		metric.WithUnit("{command}"), metric.WithDescription("Commands waiting in a connection's pending queue, behind a hold."))
	refused, err4 := m.Int64ObservableCounter("redchain.server.replies.refused",
		metric.WithUnit("{reply}"), metric.WithDescription("Replies refused: a second reply to a command (double), or one after the proxy had answered it (late)."))
	clientMem, err5 := m.Int64ObservableUpDownCounter("redchain.server.client_memory",
		metric.WithUnit("By"), metric.WithDescription("Memory the proxy holds for its clients, as the client memory budget counts it."))
	evicted, err6 := m.Int64ObservableCounter("redchain.server.clients.evicted",
		metric.WithUnit("{connection}"), metric.WithDescription("Clients closed because the client memory budget was exceeded."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	double := metric.WithAttributeSet(attribute.NewSet(ReplyReasonKey.String("double")))
	late := metric.WithAttributeSet(attribute.NewSet(ReplyReasonKey.String("late")))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := srv.Stats()
		o.ObserveInt64(conns, int64(st.Conns))
		o.ObserveInt64(inflight, int64(st.Inflight))
		o.ObserveInt64(pending, int64(st.Pending))
		o.ObserveInt64(refused, clamp(st.DoubleReplies), double)
		o.ObserveInt64(refused, clamp(st.LateReplies), late)
		o.ObserveInt64(clientMem, st.ClientMemory)
		o.ObserveInt64(evicted, clamp(st.ClientsEvicted))
		return nil
	}, conns, inflight, pending, refused, clientMem, evicted)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	return once(reg), nil
}

// RegisterBackend reports b's Stats as metrics of mp (otel.GetMeterProvider() when nil),
// read at each collection, each with the attribute redchain.backend.name=name:
//
//	redchain.backend.connections  {connection}  server connections, by redchain.backend.connection.state: up, down
//	redchain.backend.waiting      {command}     commands sent or queued whose replies have not come yet
//	redchain.backend.reconnects   {reconnect}   counter: connections made again after one broke
//
// unregister stops the reports; it is idempotent and safe from any goroutine. Give each
// backend of a meter provider its own name.
func RegisterBackend(mp metric.MeterProvider, name string, b backend.StatsReporter) (unregister func() error, err error) {
	if b == nil {
		return nil, errNoStats
	}
	if name == "" {
		return nil, errors.New("observe: a backend needs a name")
	}
	m := meter(mp)
	conns, err1 := m.Int64ObservableUpDownCounter("redchain.backend.connections",
		metric.WithUnit("{connection}"), metric.WithDescription("Server connections a backend keeps, by state."))
	waiting, err2 := m.Int64ObservableUpDownCounter("redchain.backend.waiting",
		metric.WithUnit("{command}"), metric.WithDescription("Commands sent to or queued for a backend whose replies have not come yet."))
	reconnects, err3 := m.Int64ObservableCounter("redchain.backend.reconnects",
		metric.WithUnit("{reconnect}"), metric.WithDescription("Server connections made again after one broke."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	named := BackendNameKey.String(name)
	all := metric.WithAttributeSet(attribute.NewSet(named))
	up := metric.WithAttributeSet(attribute.NewSet(named, ConnStateKey.String("up")))
	down := metric.WithAttributeSet(attribute.NewSet(named, ConnStateKey.String("down")))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := b.Stats()
		o.ObserveInt64(conns, int64(st.ConnsUp), up)
		o.ObserveInt64(conns, int64(st.Conns-st.ConnsUp), down)
		o.ObserveInt64(waiting, int64(st.Waiting), all)
		o.ObserveInt64(reconnects, clamp(st.Reconnects), all)
		return nil
	}, conns, waiting, reconnects)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	return once(reg), nil
}

// OwnConnReporter is what RegisterOwnConns reads: a router.Forward.
type OwnConnReporter interface {
	OwnConnStats() router.OwnConnStats
}

// RegisterOwnConns reports the server connections that clients hold of their own
// (router.OwnConnLimits) as metrics of mp (otel.GetMeterProvider() when nil):
//
//	redchain.own_connections          {connection}  held by clients now
//	redchain.own_connections.refused  {command}     counter, by redchain.own_connections.cap: address, user, total
//
// unregister stops the reports; it is idempotent and safe from any goroutine.
func RegisterOwnConns(mp metric.MeterProvider, r OwnConnReporter) (unregister func() error, err error) {
	if r == nil {
		return nil, errNoStats
	}
	m := meter(mp)
	inUse, err1 := m.Int64ObservableUpDownCounter("redchain.own_connections",
		metric.WithUnit("{connection}"), metric.WithDescription("Server connections clients hold of their own: transactions, blocking commands, subscriptions, streams."))
	refused, err2 := m.Int64ObservableCounter("redchain.own_connections.refused",
		metric.WithUnit("{command}"), metric.WithDescription("Commands refused because a cap on the server connections of clients' own was reached, by cap."))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	byCap := func(c string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(OwnCapKey.String(c)))
	}
	addr, user, total := byCap("address"), byCap("user"), byCap("total")
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := r.OwnConnStats()
		o.ObserveInt64(inUse, int64(st.InUse))
		o.ObserveInt64(refused, clamp(st.RefusedPerAddress), addr)
		o.ObserveInt64(refused, clamp(st.RefusedPerUser), user)
		o.ObserveInt64(refused, clamp(st.RefusedTotal), total)
		return nil
	}, inUse, refused)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	return once(reg), nil
}

func meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
}

// clamp converts a counter to the int64 an observation takes.
func clamp(n uint64) int64 { return int64(min(n, math.MaxInt64)) }

// once makes reg's Unregister idempotent.
func once(reg metric.Registration) func() error {
	return sync.OnceValue(reg.Unregister)
}
