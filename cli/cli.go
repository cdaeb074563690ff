package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/middleware/clusterview"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

// Run is a command's run function: it parses args, serves until ctx ends, logs to logOut,
// and calls ready, when not nil, with its address (or addresses) once it serves. It
// returns nil after a graceful stop.
type Run[A any] func(ctx context.Context, args []string, logOut io.Writer, ready func(A)) error

// Main is a command's main: it calls run with the command line and os.Stderr until
// SIGINT or SIGTERM, and exits with status 1, printing "name: error", if run fails.
func Main[A any](name string, run Run[A]) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// ShutdownTimeout is how long Serve waits for the commands in progress to be answered
// when its context ends, before it closes every connection.
const ShutdownTimeout = 10 * time.Second

// Flags are the settings every redchain proxy binary has. The zero value is an embedded
// Redis with the defaults Register sets except Listen: use Register to fill it from flags.
type Flags struct {
	Listen           string // -listen: address to accept Redis clients on
	Upstream         string // -upstream: Redis host:port; empty starts an embedded miniredis
	UpstreamPassword string // -upstream-password: password for the upstream Redis
	LogLevel         string // -log-level: trace, debug, info, warn or error
	EventLoops       int    // -event-loops: event loops; 0 is proxy.DefaultEventLoops (one per CPU but one)
	MetricsAddr      string // -metrics-addr: serve Prometheus metrics at /metrics; empty: off
	PprofAddr        string // -pprof-addr: serve net/http/pprof at /debug/pprof/; empty: off
	// NoLearn (-learn=false) skips asking the upstream for its commands at start (see
	// router.Learn): commands the command model does not know then run on a server
	// connection of their client's own.
	NoLearn bool
	// PresentCluster (-present-cluster) lists the proxies of a tier, host:port each,
	// this one included: the proxy then presents the tier as a Redis Cluster
	// (middleware/clusterview). Empty: a standalone server.
	PresentCluster []string
	// Announce (-announce) is this proxy's address as clients reach it, one of
	// PresentCluster; empty: Listen.
	Announce string
	// OwnConns (-max-own-conns-per-addr, -max-own-conns-per-user, -max-own-conns) caps
	// the server connections clients hold of their own (router.OwnConnLimits); 0 is no
	// cap. Applied by the router options of App.RouterOptions.
	OwnConns router.OwnConnLimits
	// MaxMemoryClients (-maxmemory-clients, a size as Redis writes it: 256mb, 1gb) is
	// the memory budget of all clients together (proxy.WithMaxMemoryClients); 0 is
	// none. With one, NewServer also gives the Go runtime a soft memory limit of the
	// budget plus MemoryHeadroom, unless GOMEMLIMIT sets one.
	MaxMemoryClients int64
	// MaxOutbound (-max-outbound, a size) bounds the replies waiting for one client
	// that does not read them (proxy.WithMaxOutbound); 0 keeps proxy.DefaultMaxOutbound,
	// and -1 (the flag's 0) is no bound.
	MaxOutbound int64
}

// MemoryHeadroom is what the Go runtime's soft memory limit allows beyond
// -maxmemory-clients: the proxy's own memory besides its clients' (backends' buffers,
// goroutine stacks, the runtime's).
const MemoryHeadroom = 16 << 20

// Register defines -listen (127.0.0.1:6380), -upstream (empty), -upstream-password
// (empty), -log-level (info), -event-loops (0), -metrics-addr (empty), -pprof-addr
// (empty), -learn (true), -present-cluster (empty), -announce (empty),
// -max-own-conns-per-addr, -max-own-conns-per-user, -max-own-conns (0),
// -maxmemory-clients (0) and -max-outbound (the default) on fs, storing into f.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Listen, "listen", "127.0.0.1:6380", "address to accept Redis clients on")
	fs.StringVar(&f.Upstream, "upstream", "", "Redis server host:port (empty: start an embedded one)")
	fs.StringVar(&f.UpstreamPassword, "upstream-password", "", "password for the upstream Redis")
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.IntVar(&f.EventLoops, "event-loops", 0, "event loops (0: one per CPU but one, at least one: GOMAXPROCS-1)")
	fs.StringVar(&f.MetricsAddr, "metrics-addr", "", "address to serve Prometheus metrics on, at /metrics (empty: off)")
	fs.StringVar(&f.PprofAddr, "pprof-addr", "", "address to serve net/http/pprof on, at /debug/pprof/ (empty: off)")
	fs.Func("present-cluster", "comma-separated host:port of every proxy of the tier, this one included: present the tier as a Redis Cluster (empty: a standalone server)", func(s string) error {
		f.PresentCluster = nil
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				f.PresentCluster = append(f.PresentCluster, a)
			}
		}
		return nil
	})
	fs.StringVar(&f.Announce, "announce", "", "this proxy's address as clients reach it, with -present-cluster (empty: -listen)")
	fs.IntVar(&f.OwnConns.PerAddress, "max-own-conns-per-addr", 0, "most server connections of their own (transactions, blocking commands, subscriptions) the clients of one IP address may hold (0: no cap)")
	fs.IntVar(&f.OwnConns.PerUser, "max-own-conns-per-user", 0, "most server connections of their own the clients of one user may hold (0: no cap)")
	fs.IntVar(&f.OwnConns.Total, "max-own-conns", 0, "most server connections of their own all clients may hold (0: no cap)")
	fs.Func("maxmemory-clients", "memory budget of all clients together, as Redis's maxmemory-clients: 256mb, 1gb (0: none); over it, the client that holds the most is closed", func(s string) error {
		n, err := parseSize(s)
		f.MaxMemoryClients = n
		return err
	})
	fs.Func("max-outbound", "replies waiting for one client that does not read them, a size (default 64mb; 0: no bound); beyond it, the client's commands wait until it reads", func(s string) error {
		n, err := parseSize(s)
		if f.MaxOutbound = n; n == 0 {
			f.MaxOutbound = -1
		}
		return err
	})
	fs.BoolFunc("learn", "learn the upstream's commands at start, modules' included (default true; -learn=false to skip)", func(s string) error {
		v, err := strconv.ParseBool(s)
		f.NoLearn = !v
		return err
	})
}

// parseSize reads a size as Redis's configuration does: a number of bytes, or one with a
// unit, k/m/g (powers of 1000) or kb/mb/gb (of 1024), in any case.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: want bytes, or a number with k, kb, m, mb, g or gb", s)
	}
	return n * mult, nil
}

// learnTimeout bounds how long Start waits for the upstream's list of commands.
const learnTimeout = 5 * time.Second

// App is what Start set up for a command: its logger and its backend.
type App struct {
	// Log is the command's logger, named "redchain", at Flags.LogLevel.
	Log hclog.Logger
	// Backend is what the command's chain sends to, and what -metrics-addr reports:
	// after Start, a backend/redis to the upstream Redis (or the embedded one); after
	// StartWith, the command's own. Close closes it.
	Backend backend.Backend

	flags     Flags
	forward   *router.Forward      // the router made with RouterOptions, for its metrics
	mini      *miniredis.Miniredis // nil with an upstream
	view      *clusterview.View    // with -present-cluster
	endpoints                      // the metrics and pprof endpoints (http.go)
}

// RouterOptions are the router options the flags ask for (-max-own-conns...): pass them
// to router.New. The router made with them has its metrics reported with
// -metrics-addr. Call it once, before NewServer.
func (a *App) RouterOptions() []router.Option {
	return []router.Option{
		router.WithOwnConnLimits(a.flags.OwnConns),
		func(f *router.Forward) { a.forward = f },
	}
}

// Start makes a logger writing to logOut, starts an embedded miniredis on a free loopback
// port when f.Upstream is empty (and logs that it does), connects a backend to the
// upstream, and, unless f.NoLearn, teaches the command model the upstream's commands
// (router.Learn, bounded by a few seconds; a failure is logged). Call Close when done,
// also when Serve is never called.
func Start(f Flags, logOut io.Writer) (*App, error) {
	return startApp(f, logOut, func(a *App) (backend.Backend, error) {
		if a.flags.Upstream == "" {
			m := miniredis.NewMiniRedis()
			if err := m.StartAddr("127.0.0.1:0"); err != nil {
				return nil, fmt.Errorf("cli: embedded redis: %w", err)
			}
			a.mini = m
			a.flags.Upstream = m.Addr()
			a.Log.Info("no -upstream given: using an embedded, in-memory Redis (miniredis) for trying things out", "addr", a.flags.Upstream)
		}
		b, err := redis.New(redis.Config{Addr: a.flags.Upstream, Password: a.flags.UpstreamPassword, Logger: a.Log.Named("backend")})
		if err != nil {
			return nil, err
		}
		return b, nil
	})
}

// StartWith is Start for a command with a backend of its own (a cluster, a shard set):
// open makes it, given the App's logger; -upstream and -upstream-password are the
// command's to use or refuse, and nothing is embedded. The command model learns the
// backend's commands unless f.NoLearn, and -metrics-addr reports the backend's gauges
// when it is a backend.StatsReporter. Close closes it.
func StartWith(f Flags, logOut io.Writer, open func(log hclog.Logger) (backend.Backend, error)) (*App, error) {
	return startApp(f, logOut, func(a *App) (backend.Backend, error) { return open(a.Log) })
}

// startApp makes the App with the backend open makes.
func startApp(f Flags, logOut io.Writer, open func(a *App) (backend.Backend, error)) (*App, error) {
	if o := f.OwnConns; o.PerAddress < 0 || o.PerUser < 0 || o.Total < 0 {
		return nil, errors.New("cli: -max-own-conns-per-addr, -max-own-conns-per-user and -max-own-conns must be 0 (no cap) or more")
	}
	a := &App{
		Log:   hclog.New(&hclog.LoggerOptions{Name: "redchain", Level: hclog.LevelFromString(f.LogLevel), Output: logOut}),
		flags: f,
	}
	b, err := open(a)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Backend = b
	if !f.NoLearn && a.mini == nil {
		ctx, cancel := context.WithTimeout(context.Background(), learnTimeout)
		n, err := router.Learn(ctx, b)
		cancel()
		if err != nil {
			a.Log.Warn("could not learn the upstream's commands; the commands the proxy does not know run on connections of their clients' own", "error", err)
		} else {
			a.Log.Info("learned the upstream's commands", "new", n)
		}
	}
	if len(f.PresentCluster) > 0 {
		self := f.Announce
		if self == "" {
			self = f.Listen
		}
		a.view, err = clusterview.New(clusterview.Config{Self: self, Proxies: f.PresentCluster})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("-present-cluster: %w", err)
		}
	}
	if err := a.startHTTP(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// NewServer returns proxy.New(h, ...) with the App's logger and -event-loops, then opts.
// With -present-cluster, middleware/clusterview goes in front of h (it answers CLUSTER).
// With -metrics-addr, the observe middleware goes first in front of both (it sees every
// command) and the server's and backend's gauges are registered. Call it once.
func (a *App) NewServer(h proxy.Handler, opts ...proxy.Option) *proxy.Server {
	if a.view != nil {
		h = proxy.Chain(h, a.view)
	}
	if a.obs != nil {
		h = proxy.Chain(h, a.obs)
	}
	base := []proxy.Option{proxy.WithLogger(a.Log)}
	if a.flags.EventLoops > 0 {
		base = append(base, proxy.WithEventLoops(a.flags.EventLoops))
	}
	if n := a.flags.MaxOutbound; n != 0 {
		base = append(base, proxy.WithMaxOutbound(int(max(n, 0))))
	}
	if n := a.flags.MaxMemoryClients; n > 0 {
		base = append(base, proxy.WithMaxMemoryClients(n))
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(n + MemoryHeadroom)
		}
		a.Log.Info("client memory budget", "bytes", n, "go_memory_limit", debug.SetMemoryLimit(-1))
	}
	srv := proxy.New(h, append(base, opts...)...)
	a.registerMetrics(srv)
	return srv
}

// Serve runs srv on -listen until ctx ends, then shuts it down gracefully (see
// ShutdownTimeout) and logs "stopped". ready, when not nil, is called with the address
// srv listens on once it serves. Serve returns nil after a graceful stop, or the error
// that stopped srv.
func (a *App) Serve(ctx context.Context, srv *proxy.Server, ready func(net.Addr)) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(a.flags.Listen) }()
	<-srv.Ready()
	if ready != nil && srv.Addr() != nil {
		ready(srv.Addr())
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		a.Log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, proxy.ErrServerClosed) {
		return err
	}
	a.Log.Info("stopped")
	return nil
}

// Close stops the metrics and pprof endpoints and closes the backend and the embedded
// Redis, if any. Call it after Serve returns.
func (a *App) Close() {
	a.stopHTTP(a.Log)
	if a.view != nil {
		a.view.Close()
	}
	if a.Backend != nil {
		a.Backend.Close()
	}
	if a.mini != nil {
		a.mini.Close()
	}
}
