package observe_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/middleware/observe"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

// eventually polls cond until it holds, failing the test after proxytest.Timeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(proxytest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, proxytest.Timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRegisterServer(t *testing.T) {
	t.Parallel()
	mp, reader := newMeter(t)
	obs, err := observe.New(observe.Config{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	// HOLD parks its writer until the test answers it, so that it stays in flight.
	parked := make(chan proxy.ReplyWriter, 1)
	h := proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if req.Is("hold") {
			parked <- w
			return
		}
		terminal(0).ServeRESP(ctx, w, req)
	})
	srv := proxytest.NewServer(t, proxy.Chain(h, obs))
	unregister, err := observe.RegisterServer(mp, srv.Server)
	if err != nil {
		t.Fatal(err)
	}

	gauge := func(name string) int64 {
		return points(t, collect(t, reader), name)[""].value
	}
	c := proxytest.Dial(t, srv.Addr())
	c.Do("PING")
	if n := gauge("redchain.server.connections"); n != 1 {
		t.Errorf("connections = %d with one client, want 1", n)
	}
	c.Send([]string{"HOLD"})
	w := <-parked
	eventually(t, "inflight = 1 while a command waits", func() bool { return gauge("redchain.server.inflight") == 1 })
	w.WriteReply(resp.OK)
	c.Read()
	w.WriteReply(resp.OK) // a second reply, refused and counted
	eventually(t, "inflight = 0 after the reply", func() bool { return gauge("redchain.server.inflight") == 0 })
	if n := gauge("redchain.server.pending"); n != 0 {
		t.Errorf("pending = %d, want 0", n)
	}
	refused := points(t, collect(t, reader), "redchain.server.replies.refused")
	if refused["redchain.reply.reason=double"].value != 1 || refused["redchain.reply.reason=late"].value != 0 {
		t.Errorf("refused replies %v, want double=1 late=0", refused)
	}

	ms := collect(t, reader)
	for name, unit := range map[string]string{
		"redchain.server.connections":     "{connection}",
		"redchain.server.inflight":        "{command}",
		"redchain.server.pending":         "{command}",
		"redchain.server.replies.refused": "{reply}",
	} {
		if got := ms[name].Unit; got != unit {
			t.Errorf("%s: unit %q, want %q", name, got, unit)
		}
	}

	if err := unregister(); err != nil {
		t.Errorf("unregister: %v", err)
	}
	if err := unregister(); err != nil {
		t.Errorf("second unregister: %v", err)
	}
	if p := points(t, collect(t, reader), "redchain.server.connections"); len(p) != 0 {
		t.Errorf("connections still reported after unregister: %v", p)
	}
}

// statsBackend is a backend that answers +OK and reports made-up Stats.
type statsBackend struct {
	backend.Func
	reconnects atomic.Uint64
}

func (b *statsBackend) Stats() backend.Stats {
	return backend.Stats{Conns: 3, ConnsUp: 2, Waiting: 5, Reconnects: b.reconnects.Load()}
}

func TestRegisterBackend(t *testing.T) {
	t.Parallel()
	mp, reader := newMeter(t)
	b := &statsBackend{Func: func(_ context.Context, _ resp.Command, done func(resp.Value, error)) { done(resp.OK, nil) }}
	b.reconnects.Store(7)
	srv := proxytest.NewServer(t, router.New(b))
	proxytest.Dial(t, srv.Addr()).Do("SET", "k", "v")

	unregister, err := observe.RegisterBackend(mp, "primary", b)
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	ms := collect(t, reader)
	for _, tc := range []struct {
		metric, attrs, unit string
		want                int64
	}{
		{"redchain.backend.connections", "redchain.backend.connection.state=up redchain.backend.name=primary", "{connection}", 2},
		{"redchain.backend.connections", "redchain.backend.connection.state=down redchain.backend.name=primary", "{connection}", 1},
		{"redchain.backend.waiting", "redchain.backend.name=primary", "{command}", 5},
		{"redchain.backend.reconnects", "redchain.backend.name=primary", "{reconnect}", 7},
	} {
		p, ok := points(t, ms, tc.metric)[tc.attrs]
		if !ok || p.value != tc.want {
			t.Errorf("%s{%s} = %d (reported: %v), want %d", tc.metric, tc.attrs, p.value, ok, tc.want)
		}
		if ms[tc.metric].Unit != tc.unit {
			t.Errorf("%s: unit %q, want %q", tc.metric, ms[tc.metric].Unit, tc.unit)
		}
	}
	b.reconnects.Add(1)
	if p := points(t, collect(t, reader), "redchain.backend.reconnects")["redchain.backend.name=primary"]; p.value != 8 {
		t.Errorf("reconnects = %d after one more, want 8", p.value)
	}
}

func TestRegisterRefusesNothing(t *testing.T) {
	t.Parallel()
	mp, _ := newMeter(t)
	if _, err := observe.RegisterServer(mp, nil); err == nil {
		t.Error("RegisterServer(nil) did not fail")
	}
	if _, err := observe.RegisterBackend(mp, "x", nil); err == nil {
		t.Error("RegisterBackend(nil) did not fail")
	}
	if _, err := observe.RegisterBackend(mp, "", &statsBackend{}); err == nil {
		t.Error("RegisterBackend with no name did not fail")
	}
}
