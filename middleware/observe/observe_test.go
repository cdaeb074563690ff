package observe_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/redchain/redchain/middleware/observe"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  observe.Config
		ok   bool
	}{
		{"zero", observe.Config{}, true},
		{"slow log", observe.Config{SlowThreshold: time.Second, SlowLevel: hclog.Info}, true},
		{"negative threshold", observe.Config{SlowThreshold: -time.Second}, false},
		{"level off", observe.Config{SlowLevel: hclog.Off}, false},
		{"level out of range", observe.Config{SlowLevel: hclog.Level(42)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := observe.New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Errorf("New: error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestDurationHistogram sends commands through a real server, answered at once and later,
// and checks the histogram's series: one per command name and error code, with counts.
func TestDurationHistogram(t *testing.T) {
	t.Parallel()
	mp, reader := newMeter(t)
	obs, err := observe.New(observe.Config{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	srv := proxytest.NewServer(t, proxy.Chain(terminal(0), obs))
	c := proxytest.Dial(t, srv.Addr())
	for _, tc := range []struct {
		cmd  string
		n    int
		want string // the reply's first bytes
	}{
		{"GET", 3, "$1\r\nv"},
		{"aset", 2, "+OK"},  // answered later
		{"Fail", 1, "-ERR"}, // a raw error reply
		{"WRONG", 2, "-WRONGTYPE"},
		{"anoauth", 1, "-NOAUTH"}, // an error answered later
		{"panic", 1, "-ERR internal error"},
	} {
		for range tc.n {
			if v := c.Do(tc.cmd, "key"); !strings.HasPrefix(string(v.AppendTo(nil)), tc.want) {
				t.Fatalf("%s: reply %v, want %q...", tc.cmd, v, tc.want)
			}
		}
	}

	ms := collect(t, reader)
	got := points(t, ms, "db.client.operation.duration")
	want := map[string]uint64{
		opKey("get", ""):            3,
		opKey("aset", ""):           2,
		opKey("fail", "ERR"):        1,
		opKey("wrong", "WRONGTYPE"): 2,
		opKey("anoauth", "NOAUTH"):  1,
		opKey("panic", "ERR"):       1,
	}
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d: %v", len(got), len(want), got)
	}
	for k, n := range want {
		if got[k].count != n {
			t.Errorf("series {%s}: count %d, want %d", k, got[k].count, n)
		}
	}
	m := ms["db.client.operation.duration"]
	if m.Unit != "s" {
		t.Errorf("unit %q, want s", m.Unit)
	}
	for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		// The boundaries the semantic conventions recommend for this metric.
		if want := "[0.001 0.005 0.01 0.05 0.1 0.5 1 5 10]"; fmt.Sprint(p.Bounds) != want {
			t.Errorf("bounds %v, want %v", p.Bounds, want)
		}
	}
}

// TestDurationCoversAsyncReply checks that the duration ends when the reply is written,
// not when the chain returns.
func TestDurationCoversAsyncReply(t *testing.T) {
	t.Parallel()
	mp, reader := newMeter(t)
	obs, err := observe.New(observe.Config{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	const delay = 20 * time.Millisecond
	srv := proxytest.NewServer(t, proxy.Chain(terminal(delay), obs))
	proxytest.Dial(t, srv.Addr()).Do("slow")
	m := collect(t, reader)["db.client.operation.duration"]
	p := m.Data.(metricdata.Histogram[float64]).DataPoints[0]
	if p.Count != 1 || p.Sum < delay.Seconds() {
		t.Errorf("count %d, sum %vs; want 1 and at least %v", p.Count, p.Sum, delay)
	}
}

// TestOneRecordPerCommand writes two replies through the writer observe hands down: both
// are forwarded (the proxy refuses the second), one is recorded.
func TestOneRecordPerCommand(t *testing.T) {
	t.Parallel()
	mp, reader := newMeter(t)
	obs, err := observe.New(observe.Config{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	twice := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
		w.WriteReply(resp.OK)
		w.WriteReply(resp.Error("ERR", "again"))
	})
	var rec proxytest.Recorder
	proxy.Chain(twice, obs).ServeRESP(context.Background(), &rec, proxy.NewRequest(resp.NewCommand("SET", "k", "v")))
	if n := len(rec.Replies()); n != 2 {
		t.Errorf("%d replies forwarded, want 2", n)
	}
	got := points(t, collect(t, reader), "db.client.operation.duration")
	if len(got) != 1 || got[opKey("set", "")].count != 1 {
		t.Errorf("series %v, want one set with count 1", got)
	}
}

func TestErrorReplyForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		reply resp.Value
		code  string
	}{
		{"simple", resp.Error("MOVED", "3999 127.0.0.1:6381"), "MOVED"},
		{"raw simple", resp.Raw([]byte("-CLUSTERDOWN The cluster is down\r\n")), "CLUSTERDOWN"},
		{"bulk", resp.Value{Type: resp.TypeBulkError, Str: []byte("BUSY busy")}, "BUSY"},
		{"raw bulk", resp.Raw([]byte("!21\r\nSYNTAX invalid syntax\r\n")), "SYNTAX"},
		{"code only", resp.Raw([]byte("-LOADING\r\n")), "LOADING"},
		{"lower case", resp.Raw([]byte("-error of some module\r\n")), "_OTHER"},
		{"empty", resp.Raw([]byte("-\r\n")), "_OTHER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mp, reader := newMeter(t)
			obs, err := observe.New(observe.Config{MeterProvider: mp})
			if err != nil {
				t.Fatal(err)
			}
			h := proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) { w.WriteReply(tc.reply) })
			proxy.Chain(h, obs).ServeRESP(context.Background(), &proxytest.Recorder{}, proxy.NewRequest(resp.NewCommand("GET", "k")))
			got := points(t, collect(t, reader), "db.client.operation.duration")
			if got[opKey("get", tc.code)].count != 1 {
				t.Errorf("series %v, want get with error.type=%s", got, tc.code)
			}
		})
	}
}

func TestSpans(t *testing.T) {
	t.Parallel()
	tp, spans := newTracer(t)
	obs, err := observe.New(observe.Config{TracerProvider: tp, Spans: true})
	if err != nil {
		t.Fatal(err)
	}
	var childParent trace.SpanContext
	var mu sync.Mutex
	h := proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
		if req.Is("get") {
			mu.Lock()
			childParent = trace.SpanContextFromContext(ctx)
			mu.Unlock()
		}
		terminal(0).ServeRESP(ctx, w, req)
	})
	srv := proxytest.NewServer(t, proxy.Chain(h, obs))
	c := proxytest.Dial(t, srv.Addr())
	c.Do("GET", "secret-key")
	c.Do("FAIL", "secret-arg")
	c.Do("ANOAUTH", "secret-password")

	ended := spans.Ended()
	if len(ended) != 3 {
		t.Fatalf("%d spans ended, want 3", len(ended))
	}
	byName := map[string]int{}
	for i, s := range ended {
		byName[s.Name()] = i
		if s.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %s: kind %v, want server", s.Name(), s.SpanKind())
		}
		attrs := attribute.NewSet(s.Attributes()...)
		if v, _ := attrs.Value("db.system.name"); v.AsString() != "redis" {
			t.Errorf("span %s: db.system.name %q", s.Name(), v.AsString())
		}
		if v, _ := attrs.Value("db.operation.name"); v.AsString() != s.Name() {
			t.Errorf("span %s: db.operation.name %q", s.Name(), v.AsString())
		}
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "secret") {
				t.Errorf("span %s records an argument: %s=%s", s.Name(), kv.Key, kv.Value.String())
			}
		}
		if strings.Contains(s.Status().Description, "secret") {
			t.Errorf("span %s records an argument in its status: %q", s.Name(), s.Status().Description)
		}
	}
	for _, tc := range []struct {
		name, code, desc string
	}{
		{"get", "", ""},
		{"fail", "ERR", "ERR unknown command"},
		{"anoauth", "NOAUTH", "NOAUTH Authentication required."},
	} {
		i, ok := byName[tc.name]
		if !ok {
			t.Errorf("no span %s among %v", tc.name, byName)
			continue
		}
		s := ended[i]
		wantStatus := codes.Unset
		if tc.code != "" {
			wantStatus = codes.Error
		}
		if s.Status().Code != wantStatus || s.Status().Description != tc.desc {
			t.Errorf("span %s: status %v %q, want %v %q", tc.name, s.Status().Code, s.Status().Description, wantStatus, tc.desc)
		}
		set := attribute.NewSet(s.Attributes()...)
		v, _ := set.Value("error.type")
		if v.AsString() != tc.code {
			t.Errorf("span %s: error.type %q, want %q", tc.name, v.AsString(), tc.code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if get := ended[byName["get"]]; childParent.SpanID() != get.SpanContext().SpanID() {
		t.Errorf("the chain below saw span %v in its context, want the command's %v", childParent.SpanID(), get.SpanContext().SpanID())
	}
}

func TestNoSpansUnlessAsked(t *testing.T) {
	t.Parallel()
	tp, spans := newTracer(t)
	obs, err := observe.New(observe.Config{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	srv := proxytest.NewServer(t, proxy.Chain(terminal(0), obs))
	proxytest.Dial(t, srv.Addr()).Do("GET", "k")
	if n := len(spans.Started()); n != 0 {
		t.Errorf("%d spans started with Spans off", n)
	}
}

// syncBuffer is a log sink that a test reads while the proxy writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSlowLog(t *testing.T) {
	t.Parallel()
	const threshold = 100 * time.Millisecond
	logs := &syncBuffer{}
	obs, err := observe.New(observe.Config{
		SlowThreshold: threshold,
		Logger:        hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace}),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := proxytest.NewServer(t, proxy.Chain(terminal(threshold+threshold/2), obs))
	c := proxytest.Dial(t, srv.Addr())
	c.Do("GET", "secret-key")
	c.Do("SLOW", "secret-arg")
	c.Do("ASET", "secret-key", "secret-value")

	// The line is written before the reply is forwarded, so it is there now.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1 (slow only):\n%s", len(lines), logs)
	}
	line := lines[0]
	local := c.Conn().LocalAddr().String()
	for _, want := range []string{"[WARN]", "slow command", "command=slow", "duration=", "conn=", "remote=" + local} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	if strings.Contains(line, "secret") {
		t.Errorf("log line records an argument: %s", line)
	}
}

// TestCardinalityCap sends many made-up command names and error codes: each attribute
// gets at most its cap of distinct values plus one for the rest, and Redis's own commands
// keep theirs.
func TestCardinalityCap(t *testing.T) {
	t.Parallel()
	mp, reader := newMeter(t)
	obs, err := observe.New(observe.Config{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	var code []byte
	h := proxy.Chain(proxy.HandlerFunc(func(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
		if code == nil {
			w.WriteReply(resp.OK)
			return
		}
		w.WriteReply(resp.Error(string(code), "made up"))
	}), obs)
	serve := func(name string) {
		h.ServeRESP(context.Background(), &proxytest.Recorder{}, proxy.NewRequest(resp.NewCommand(name)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	word := func(alphabet string) string {
		b := make([]byte, 4+r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 1000 {
		serve(word("abcdefghijklmnopqrstuvwxyz"))
	}
	for _, odd := range []string{"9lives", "with space", "tab\tbed", strings.Repeat("x", 40), "caf\xc3\xa9"} {
		serve(odd)
	}
	serve("HGETALL") // a Redis command seen for the first time after the flood
	code = []byte("ERR")
	for range 200 {
		code = []byte(word("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
		serve("get")
	}

	const capNames, capCodes = 512, 64
	names := map[string]uint64{}
	codes := map[string]bool{}
	for _, p := range collect(t, reader)["db.client.operation.duration"].Data.(metricdata.Histogram[float64]).DataPoints {
		name, _ := p.Attributes.Value("db.operation.name")
		names[name.AsString()] += p.Count
		if c, ok := p.Attributes.Value("error.type"); ok {
			codes[c.AsString()] = true
		}
	}
	if len(names) > capNames+3 { // + other, get, hgetall
		t.Errorf("%d distinct db.operation.name, want at most %d", len(names), capNames+3)
	}
	if names["other"] < 1000-capNames+5 {
		t.Errorf("other has %d commands, want at least %d", names["other"], 1000-capNames+5)
	}
	if names["hgetall"] != 1 || names["get"] != 200 {
		t.Errorf("hgetall %d, get %d; want 1 and 200: Redis commands keep their names", names["hgetall"], names["get"])
	}
	if len(codes) > capCodes+1 || !codes["_OTHER"] {
		t.Errorf("%d distinct error.type (_OTHER among them: %v), want at most %d", len(codes), codes["_OTHER"], capCodes+1)
	}
}

// TestConformance runs the proxy's middleware conformance suite with every output on,
// and with none. It runs alone (not in parallel), since the suite times each call of the
// middleware on the event loop.
func TestConformance(t *testing.T) {
	t.Run("Everything", func(t *testing.T) {
		mp, _ := newMeter(t)
		tp, _ := newTracer(t)
		obs, err := observe.New(observe.Config{
			MeterProvider: mp, TracerProvider: tp, Spans: true,
			SlowThreshold: time.Nanosecond, Logger: hclog.NewNullLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		proxytest.Conformance(t, proxytest.Suite{Middleware: obs})
	})
	t.Run("Nothing", func(t *testing.T) {
		obs, err := observe.New(observe.Config{})
		if err != nil {
			t.Fatal(err)
		}
		proxytest.Conformance(t, proxytest.Suite{Middleware: obs})
	})
}

// passThrough is a terminal handler that answers +OK and remembers the writer it got.
type passThrough struct{ got proxy.ReplyWriter }

func (p *passThrough) ServeRESP(_ context.Context, w proxy.ReplyWriter, _ *proxy.Request) {
	p.got = w
	w.WriteReply(resp.OK)
}

// TestDisabledIsFree checks that with nothing to record (the global meter provider with
// no SDK behind it, no spans, no slow log) the command passes on with its own writer and
// nothing is allocated.
func TestDisabledIsFree(t *testing.T) {
	obs, err := observe.New(observe.Config{})
	if err != nil {
		t.Fatal(err)
	}
	term := &passThrough{}
	h := proxy.Chain(term, obs)
	w := discard{}
	req := proxy.NewRequest(resp.NewCommand("GET", "k"))
	ctx := context.Background()
	h.ServeRESP(ctx, w, req)
	if term.got != proxy.ReplyWriter(w) {
		t.Errorf("the next handler got writer %T, want the original", term.got)
	}
	if n := testing.AllocsPerRun(100, func() { h.ServeRESP(ctx, w, req) }); n != 0 {
		t.Errorf("%v allocations per command, want 0", n)
	}
}

// discard is a ReplyWriter that takes every reply and keeps nothing.
type discard struct{}

func (discard) WriteReply(resp.Value) bool { return true }
