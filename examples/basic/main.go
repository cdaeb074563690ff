// Command basic is the smallest useful redchain proxy: it forwards every command to one
// Redis server, keeping each client's replies in order.
//
//	go run ./examples/basic                          # an embedded Redis, for trying it out
//	go run ./examples/basic -upstream 127.0.0.1:6379 # a real one
//	go run ./examples/basic -metrics-addr 127.0.0.1:9121 -pprof-addr 127.0.0.1:6060
//
// Then: redis-cli -p 6380 set a 1; redis-cli -p 6380 get a; curl 127.0.0.1:9121/metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof" // also registers on http.DefaultServeMux, which is never served here
	"time"

	"github.com/hashicorp/go-hclog"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/middleware/observe"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/router"
)

func main() { cli.Main("basic", run) }

// addrs are the addresses run listens on.
type addrs struct {
	proxy   net.Addr
	metrics net.Addr // nil without -metrics-addr
	pprof   net.Addr // nil without -pprof-addr
}

// run serves until ctx ends, then shuts down gracefully. ready, when not nil, is called
// with the listening addresses once everything serves.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(addrs)) error {
	fs := flag.NewFlagSet("basic", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var common cli.Flags
	common.Register(fs)
	metricsAddr := fs.String("metrics-addr", "", "address to serve Prometheus metrics on, at /metrics (empty: off)")
	pprofAddr := fs.String("pprof-addr", "", "address to serve net/http/pprof on, at /debug/pprof/ (empty: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	app, err := cli.Start(common, logOut)
	if err != nil {
		return err
	}
	defer app.Close()
	log := app.Log

	var at addrs
	if *pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		hs, err := serveHTTP(*pprofAddr, mux)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		defer hs.close(log)
		at.pprof = hs.addr
		log.Info("serving pprof", "url", "http://"+hs.addr.String()+"/debug/pprof/")
	}

	// With -metrics-addr, observe goes first in the chain: it sees every command.
	var mws []proxy.Middleware
	var mp *sdkmetric.MeterProvider
	if *metricsAddr != "" {
		reg := promclient.NewRegistry()
		exp, err := prometheus.New(prometheus.WithRegisterer(reg))
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		defer mp.Shutdown(context.Background())
		obs, err := observe.New(observe.Config{MeterProvider: mp})
		if err != nil {
			return err
		}
		mws = append(mws, obs)
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs, err := serveHTTP(*metricsAddr, mux)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer hs.close(log)
		at.metrics = hs.addr
		log.Info("serving metrics", "url", "http://"+hs.addr.String()+"/metrics")
	}

	srv := app.NewServer(proxy.Chain(router.New(app.Backend), mws...))
	if mp != nil {
		unregisterServer, err := observe.RegisterServer(mp, srv)
		if err != nil {
			return err
		}
		defer unregisterServer()
		unregisterBackend, err := observe.RegisterBackend(mp, "upstream", app.Backend)
		if err != nil {
			return err
		}
		defer unregisterBackend()
	}
	return app.Serve(ctx, srv, func(a net.Addr) {
		if ready != nil {
			at.proxy = a
			ready(at)
		}
	})
}

// httpServer is an HTTP server on its own listener, for metrics and pprof.
type httpServer struct {
	srv  *http.Server
	addr net.Addr
	done chan error
}

// serveHTTP listens on addr and serves h until close.
func serveHTTP(addr string, h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &httpServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr(), done: make(chan error, 1)}
	go func() { hs.done <- hs.srv.Serve(ln) }()
	return hs, nil
}

// close shuts the server down, waiting a little for requests in progress (a running CPU
// profile is cut short), and waits for it to stop.
func (hs *httpServer) close(log hclog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := hs.srv.Shutdown(ctx); err != nil {
		log.Warn("http server shutdown", "addr", hs.addr, "error", err)
		hs.srv.Close()
	}
	if err := <-hs.done; !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http server", "addr", hs.addr, "error", err)
	}
}
