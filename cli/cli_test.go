package cli_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	stdhttp "net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hashicorp/go-hclog"
	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/redistest"
	"github.com/redchain/redchain/router"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}

// run is the smallest command built on cli, as a command's run function.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var f cli.Flags
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	app, err := cli.Start(f, logOut)
	if err != nil {
		return err
	}
	defer app.Close()
	return app.Serve(ctx, app.NewServer(router.New(app.Backend)), ready)
}

func TestRegister(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want cli.Flags
	}{
		{"defaults", nil, cli.Flags{Listen: "127.0.0.1:6380", LogLevel: "info"}},
		{"all", []string{"-listen", ":1", "-upstream", "h:2", "-upstream-password", "pw", "-log-level", "debug", "-event-loops", "3", "-metrics-addr", ":4", "-pprof-addr", ":5",
			"-present-cluster", "a:1, b:2", "-announce", "a:1", "-learn=false", "-maxmemory-clients", "256mb"},
			cli.Flags{Listen: ":1", Upstream: "h:2", UpstreamPassword: "pw", LogLevel: "debug", EventLoops: 3, MetricsAddr: ":4", PprofAddr: ":5",
				PresentCluster: []string{"a:1", "b:2"}, Announce: "a:1", NoLearn: true, MaxMemoryClients: 256 << 20}},
		{"sizes as Redis writes them", []string{"-maxmemory-clients", "2G"}, cli.Flags{Listen: "127.0.0.1:6380", LogLevel: "info", MaxMemoryClients: 2e9}},
		{"bytes", []string{"-maxmemory-clients", "1048576"}, cli.Flags{Listen: "127.0.0.1:6380", LogLevel: "info", MaxMemoryClients: 1 << 20}},
		{"outbound", []string{"-max-outbound", "1gb"}, cli.Flags{Listen: "127.0.0.1:6380", LogLevel: "info", MaxOutbound: 1 << 30}},
		{"no outbound bound", []string{"-max-outbound", "0"}, cli.Flags{Listen: "127.0.0.1:6380", LogLevel: "info", MaxOutbound: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var f cli.Flags
			f.Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f, tc.want) {
				t.Errorf("got %+v, want %+v", f, tc.want)
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	t.Parallel()
	addr, logs := clitest.Start(t, run, "-event-loops", "2")
	if v := proxytest.Dial(t, addr.String()).Do("SET", "a", "1"); string(v.Str) != "OK" {
		t.Errorf("SET: %v", v)
	}
	for _, want := range []string{"embedded", "listening"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
}

func TestUpstream(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	addr, logs := clitest.Start(t, run, "-upstream", srv.Addr())
	if v := proxytest.Dial(t, addr.String()).Do("SET", "a", "1"); string(v.Str) != "OK" {
		t.Errorf("SET: %v", v)
	}
	if v := srv.Client().Get(context.Background(), "a").Val(); v != "1" {
		t.Errorf("the real server has a=%q, want 1", v)
	}
	if strings.Contains(logs.String(), "embedded") {
		t.Errorf("an embedded Redis with -upstream:\n%s", logs)
	}
}

// A listen address in use: Serve returns the error without calling ready.
func TestListenFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), []string{"-listen", ln.Addr().String()}, io.Discard, func(net.Addr) {
		t.Error("ready called")
	})
	if err == nil {
		t.Error("run on a used address: no error")
	}
}

func TestMetricsAndPprof(t *testing.T) {
	t.Parallel()
	var f cli.Flags
	f.Listen, f.MetricsAddr, f.PprofAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	app, err := cli.Start(f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- app.Serve(ctx, app.NewServer(router.New(app.Backend)), func(a net.Addr) { addrc <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
		app.Close()
	})
	if v := proxytest.Dial(t, (<-addrc).String()).Do("PING"); string(v.Str) != "PONG" {
		t.Fatalf("PING: %v", v)
	}
	body := httpGet(t, "http://"+app.MetricsAddr().String()+"/metrics")
	for _, want := range []string{`db_client_operation_duration_seconds_count{db_operation_name="ping"`, "redchain_server_connections", "redchain_backend_connections"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if body := httpGet(t, "http://"+app.PprofAddr().String()+"/debug/pprof/"); !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ does not list profiles")
	}
}

func TestNoEndpointsByDefault(t *testing.T) {
	t.Parallel()
	app, err := cli.Start(cli.Flags{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if app.MetricsAddr() != nil || app.PprofAddr() != nil {
		t.Fatalf("endpoints without flags: metrics %v, pprof %v", app.MetricsAddr(), app.PprofAddr())
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := stdhttp.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// statsBackend is a backend of a command's own that reports gauges.
type statsBackend struct {
	backend.Func
	closed bool
}

func (s *statsBackend) Stats() backend.Stats { return backend.Stats{Conns: 42, ConnsUp: 41} }
func (s *statsBackend) Close() error         { s.closed = true; return nil }

// TestStartWith: a command's own backend is the one the App reports and closes, and no
// embedded Redis is started for it.
func TestStartWith(t *testing.T) {
	t.Parallel()
	b := &statsBackend{Func: func(_ context.Context, cmd resp.Command, done func(resp.Value, error)) {
		done(resp.Error("ERR", "not here"), nil)
	}}
	f := cli.Flags{MetricsAddr: "127.0.0.1:0", NoLearn: true}
	logs := &strings.Builder{}
	app, err := cli.StartWith(f, logs, func(hclog.Logger) (backend.Backend, error) { return b, nil })
	if err != nil {
		t.Fatal(err)
	}
	app.NewServer(router.New(app.Backend))
	body := httpGet(t, "http://"+app.MetricsAddr().String()+"/metrics")
	app.Close()
	if !strings.Contains(body, `redchain_backend_connection_state="up",redchain_backend_name="upstream"} 41`) {
		t.Errorf("/metrics does not report the command's backend:\n%s", body)
	}
	if !b.closed {
		t.Error("Close did not close the command's backend")
	}
	if strings.Contains(logs.String(), "embedded") {
		t.Errorf("an embedded Redis was started:\n%s", logs)
	}
	if _, err := cli.StartWith(cli.Flags{}, io.Discard, func(hclog.Logger) (backend.Backend, error) { return nil, errors.New("no") }); err == nil {
		t.Error("StartWith with a failing open: no error")
	}
}

// TestCleanStopLogsNoWarning: a graceful stop, with clients still connected (one
// subscribed, so on a dedicated server connection) and the backend's connections on the
// event loops, logs nothing at WARN or ERROR, with an embedded Redis and with a real one.
func TestCleanStopLogsNoWarning(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"embedded", func(*testing.T) []string { return nil }},
		{"upstream", func(t *testing.T) []string { return []string{"-upstream", redistest.Start(t).Addr()} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Registered before Start, these cleanups run after the command has stopped
			// (cleanups run last first), so the clients are still connected while it stops.
			var logs *clitest.Logs
			var conns []net.Conn
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
				for _, line := range strings.Split(logs.String(), "\n") {
					if strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
						t.Errorf("a clean stop logged: %s", line)
					}
				}
			})
			var addr net.Addr
			addr, logs = clitest.Start(t, run, append([]string{"-event-loops", "2"}, tc.args(t)...)...)
			for _, cmd := range [][]string{{"SET", "a", "1"}, {"SUBSCRIBE", "ch"}, {"GET", "a"}} {
				nc, err := net.Dial("tcp", addr.String())
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, nc)
				if _, err := nc.Write(resp.NewCommand(cmd...).AppendTo(nil)); err != nil {
					t.Fatal(err)
				}
				// Its reply: the command has been served. (A proxytest.Client would be
				// closed before the command stops.)
				_ = nc.SetReadDeadline(time.Now().Add(proxytest.Timeout))
				if b := make([]byte, 64); readSome(t, nc, b)[0] == '-' {
					t.Fatalf("%v: %q", cmd, b)
				}
			}
		})
	}
}

// readSome reads what c has, at least one byte, into b.
func readSome(t *testing.T, c net.Conn, b []byte) []byte {
	t.Helper()
	n, err := c.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

func TestBadSize(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"12xb", "-1", "mb", "99999999999gb"} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var f cli.Flags
		f.Register(fs)
		if err := fs.Parse([]string{"-maxmemory-clients", s}); err == nil {
			t.Errorf("-maxmemory-clients %q parsed as %d, want an error", s, f.MaxMemoryClients)
		}
	}
}
