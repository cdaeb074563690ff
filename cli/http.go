package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	stdhttp "net/http"
	"net/http/pprof"
	"time"

	"github.com/hashicorp/go-hclog"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/middleware/observe"
	"github.com/redchain/redchain/proxy"
)

// endpoints holds an App's optional HTTP endpoints: Prometheus metrics and pprof.
type endpoints struct {
	servers []*httpServer
	mp      *sdkmetric.MeterProvider // nil without -metrics-addr
	obs     *observe.Observe
	unreg   []func() error

	metricsAddr, pprofAddr net.Addr
}

// MetricsAddr returns the address metrics are served on, or nil without -metrics-addr.
func (a *App) MetricsAddr() net.Addr { return a.metricsAddr }

// PprofAddr returns the address pprof is served on, or nil without -pprof-addr.
func (a *App) PprofAddr() net.Addr { return a.pprofAddr }

// startHTTP starts the endpoints the flags ask for.
func (a *App) startHTTP() error {
	if addr := a.flags.PprofAddr; addr != "" {
		mux := stdhttp.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		hs, err := a.serveHTTP(addr, mux)
		if err != nil {
			return fmt.Errorf("cli: pprof: %w", err)
		}
		a.pprofAddr = hs.addr
		a.Log.Info("serving pprof", "url", "http://"+hs.addr.String()+"/debug/pprof/")
	}
	if addr := a.flags.MetricsAddr; addr != "" {
		reg := promclient.NewRegistry() // private: several Apps in one process do not collide
		exp, err := prometheus.New(prometheus.WithRegisterer(reg))
		if err != nil {
			return fmt.Errorf("cli: metrics: %w", err)
		}
		a.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		if a.obs, err = observe.New(observe.Config{MeterProvider: a.mp}); err != nil {
			return fmt.Errorf("cli: metrics: %w", err)
		}
		mux := stdhttp.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs, err := a.serveHTTP(addr, mux)
		if err != nil {
			return fmt.Errorf("cli: metrics: %w", err)
		}
		a.metricsAddr = hs.addr
		a.Log.Info("serving metrics", "url", "http://"+hs.addr.String()+"/metrics")
	}
	return nil
}

// registerMetrics reports srv's and the backend's gauges, with -metrics-addr.
func (a *App) registerMetrics(srv *proxy.Server) {
	if a.mp == nil {
		return
	}
	if u, err := observe.RegisterServer(a.mp, srv); err == nil {
		a.unreg = append(a.unreg, u)
	} else {
		a.Log.Warn("server metrics", "error", err)
	}
	sr, _ := a.Backend.(backend.StatsReporter)
	if u, err := observe.RegisterBackend(a.mp, "upstream", sr); err == nil {
		a.unreg = append(a.unreg, u)
	} else {
		a.Log.Warn("backend metrics", "error", err)
	}
	if a.forward != nil {
		if u, err := observe.RegisterOwnConns(a.mp, a.forward); err == nil {
			a.unreg = append(a.unreg, u)
		} else {
			a.Log.Warn("router metrics", "error", err)
		}
	}
}

// stopHTTP stops the endpoints and the meter provider.
func (a *App) stopHTTP(log hclog.Logger) {
	for _, hs := range a.servers {
		hs.close(log)
	}
	for _, u := range a.unreg {
		_ = u()
	}
	if a.mp != nil {
		_ = a.mp.Shutdown(context.Background())
	}
}

// httpServer is an HTTP server on its own listener.
type httpServer struct {
	srv  *stdhttp.Server
	addr net.Addr
	done chan error
}

// serveHTTP listens on addr and serves h until stopHTTP.
func (a *App) serveHTTP(addr string, h stdhttp.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &httpServer{srv: &stdhttp.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr(), done: make(chan error, 1)}
	go func() { hs.done <- hs.srv.Serve(ln) }()
	a.servers = append(a.servers, hs)
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
	if err := <-hs.done; !errors.Is(err, stdhttp.ErrServerClosed) {
		log.Warn("http server", "addr", hs.addr, "error", err)
	}
}
